package policies

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// labelSets shares equal label maps: DestinationRules of a mesh name
// the same few subsets ({version: v1}, {version: v2}) over and over,
// and replicas of a workload carry equal labels, so an index that keeps
// one map per set holds a fraction of the maps. The maps it returns are
// shared and must not be changed. Not safe for concurrent use: the
// Index calls it under its lock.
type labelSets struct {
	byKey map[string]map[string]string
}

// maxLabelSets bounds the sets kept: an inventory that lives as long as
// the webhook sees label sets come and go, and past the bound a map is
// simply kept as it is.
const maxLabelSets = 4096

func newLabelSets() *labelSets {
	return &labelSets{byKey: map[string]map[string]string{}}
}

// share returns a map equal to m, the first one it was given.
func (s *labelSets) share(m map[string]string) map[string]string {
	if s == nil || len(m) == 0 {
		return m
	}
	k := labelSetKey(m)
	if shared, ok := s.byKey[k]; ok {
		return shared
	}
	if len(s.byKey) < maxLabelSets {
		s.byKey[k] = m
	}
	return m
}

// labelSetKey is the same string for equal maps only: each key, in
// order, then its value, each after its length, so no key or value can
// pass for another (the inventory holds what users wrote, valid or not).
func labelSetKey(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		for _, part := range [2]string{k, m[k]} {
			b.WriteString(strconv.Itoa(len(part)))
			b.WriteByte(':')
			b.WriteString(part)
		}
	}
	return b.String()
}
