package policies

import (
	"fmt"
	"reflect"
	"testing"
)

func TestLabelSetKey(t *testing.T) {
	tests := []struct {
		a, b  map[string]string
		equal bool
	}{
		{map[string]string{"version": "v1"}, map[string]string{"version": "v1"}, true},
		{map[string]string{"version": "v1"}, map[string]string{"version": "v2"}, false},
		{map[string]string{"app": "a", "version": "v1"}, map[string]string{"version": "v1", "app": "a"}, true},
		{map[string]string{"a": "b", "c": "d"}, map[string]string{"a": "bc", "": "d"}, false},
		{map[string]string{"a": "b\x00c"}, map[string]string{"a\x00b": "c"}, false},
		{map[string]string{"a": "x", "b": "y"}, map[string]string{"a": "x"}, false},
	}
	for _, tt := range tests {
		if got := labelSetKey(tt.a) == labelSetKey(tt.b); got != tt.equal {
			t.Errorf("labelSetKey(%v) == labelSetKey(%v): %v, want %v", tt.a, tt.b, got, tt.equal)
		}
	}
}

func TestLabelSetsShare(t *testing.T) {
	s := newLabelSets()
	first := map[string]string{"version": "v1"}
	if got := s.share(first); !sameMap(got, first) {
		t.Fatal("the first map of a set is not kept")
	}
	if got := s.share(map[string]string{"version": "v1"}); !sameMap(got, first) {
		t.Error("an equal map is not replaced by the first")
	}
	other := map[string]string{"version": "v2"}
	if got := s.share(other); !sameMap(got, other) {
		t.Error("a different map is replaced")
	}
	if got := (*labelSets)(nil).share(other); !sameMap(got, other) {
		t.Error("a nil labelSets changes the map")
	}
	if got := s.share(nil); got != nil {
		t.Errorf("share(nil) = %v", got)
	}
	for i := 0; len(s.byKey) < maxLabelSets; i++ {
		s.share(map[string]string{"n": fmt.Sprint(i)})
	}
	late := map[string]string{"late": "x"}
	s.share(late)
	if got := s.share(map[string]string{"late": "x"}); sameMap(got, late) || len(s.byKey) != maxLabelSets {
		t.Errorf("past %d sets a map is still kept (%d sets)", maxLabelSets, len(s.byKey))
	}
}

// TestIndexSharesSubsetLabels: DestinationRules added to an Index share
// equal subset label maps, and what the checks read of them is unchanged.
func TestIndexSharesSubsetLabels(t *testing.T) {
	objs, err := Parse("drs.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: one}
spec:
  host: a
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2, track: canary}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: two}
spec:
  host: b
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {track: canary, version: v2}}
`), "default")
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	a := idx.DestinationRulesFor("one", "a.one.svc.cluster.local")
	b := idx.DestinationRulesFor("two", "b.two.svc.cluster.local")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("DestinationRulesFor: %v, %v", a, b)
	}
	for i := range a[0].Subsets {
		la, lb := a[0].Subsets[i].Labels, b[0].Subsets[i].Labels
		if !sameMap(la, lb) {
			t.Errorf("subset %d: equal labels %v and %v are two maps", i, la, lb)
		}
	}
	want := []Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2", "track": "canary"}}}
	if !reflect.DeepEqual(b[0].Subsets, want) {
		t.Errorf("subsets of b = %v, want %v", b[0].Subsets, want)
	}
}

func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
