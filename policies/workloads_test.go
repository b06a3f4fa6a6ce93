package policies

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestWorkloadSetCount checks the indexed count against selecting every
// workload one by one, on random labels, adds and removals.
func TestWorkloadSetCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	label := func() map[string]string {
		l := map[string]string{}
		for _, k := range []string{"app", "version", "tier"} {
			if rng.IntN(3) > 0 {
				l[k] = fmt.Sprint(rng.IntN(3))
			}
		}
		return l
	}
	w := newWorkloadSet()
	all := map[string]map[string]string{}
	for step := 0; step < 2000; step++ {
		name := fmt.Sprintf("Pod/p%d", rng.IntN(40))
		if rng.IntN(4) == 0 {
			w.remove(name)
			delete(all, name)
		} else {
			l := label()
			w.add(name, l)
			all[name] = l
		}
		sels := []map[string]string{label(), label()}[:rng.IntN(3)]
		want := 0
		for _, l := range all {
			if selectsAll(sels, l) {
				want++
			}
		}
		if got := w.count(sels); got != want {
			t.Fatalf("step %d: count(%v) = %d, want %d", step, sels, got, want)
		}
	}
}

func TestCountWorkloads(t *testing.T) {
	idx := NewIndex("")
	objs, err := Parse("w.yaml", []byte(`
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: web, version: v1}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: b, namespace: shop}
spec: {template: {metadata: {labels: {app: web, version: v2}}}}
`), "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		idx.Add(o)
	}
	tests := []struct {
		ns        string
		selectors []map[string]string
		want      int
		known     bool
	}{
		{"shop", nil, 2, true},
		{"shop", []map[string]string{{"app": "web"}}, 2, true},
		{"shop", []map[string]string{{"app": "web"}, {"version": "v2"}}, 1, true},
		{"shop", []map[string]string{{"app": "web"}, {"version": "v3"}}, 0, true},
		{"other", []map[string]string{{"app": "web"}}, 0, false},
	}
	for _, tt := range tests {
		n, known := idx.CountWorkloads(tt.ns, tt.selectors...)
		if n != tt.want || known != tt.known {
			t.Errorf("CountWorkloads(%s, %v) = %d, %v; want %d, %v", tt.ns, tt.selectors, n, known, tt.want, tt.known)
		}
	}
}
