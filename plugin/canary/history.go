package canary

import (
	"encoding/json"
	"fmt"
)

// HistoryAnnotation on the VirtualService keeps the splits that set, step
// and promote replaced, newest last, so rollback can return to them.
const HistoryAnnotation = "kubectl-mesh.io/canary-history"

// MaxHistory bounds the history: annotations share a 256 KiB budget with
// everything else on the object, and nobody rolls back further than this.
const MaxHistory = 10

// HistoryEntry is one replaced split of one route.
type HistoryEntry struct {
	// Route is the http route's name; "" is the default route.
	Route   string  `json:"route,omitempty"`
	Weights Weights `json:"weights"`
	// Subsets holds the labels of the subsets the split used, so rollback
	// can recreate one that --prune removed since.
	Subsets map[string]map[string]string `json:"subsets,omitempty"`
	// At is when the split was replaced (RFC 3339, UTC).
	At string `json:"at,omitempty"`
}

// History is the annotation's content, oldest first.
type History []HistoryEntry

// ParseHistory reads the annotation; an empty value is an empty history.
func ParseHistory(value string) (History, error) {
	if value == "" {
		return nil, nil
	}
	var h History
	if err := json.Unmarshal([]byte(value), &h); err != nil {
		return nil, fmt.Errorf("annotation %s is not a canary history: %w", HistoryAnnotation, err)
	}
	return h, nil
}

// String is the annotation value.
func (h History) String() string {
	b, _ := json.Marshal(h)
	return string(b)
}

// Push appends an entry, dropping the oldest beyond MaxHistory.
func (h History) Push(e HistoryEntry) History {
	out := append(append(History(nil), h...), e)
	if len(out) > MaxHistory {
		out = out[len(out)-MaxHistory:]
	}
	return out
}

// Pop removes the newest entry of a route and returns it; ok is false
// when the route has none.
func (h History) Pop(route string) (History, HistoryEntry, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Route == route {
			out := append(append(History(nil), h[:i]...), h[i+1:]...)
			return out, h[i], true
		}
	}
	return h, HistoryEntry{}, false
}

// Last returns the newest entry of a route without removing it.
func (h History) Last(route string) (HistoryEntry, bool) {
	_, e, ok := h.Pop(route)
	return e, ok
}
