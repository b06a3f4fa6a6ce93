package policies

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

// TestBuiltinPackagesCached pins which built-in packages the decision
// cache answers for: a change to a policy that makes it read names as
// text shows up here, with the reason.
func TestBuiltinPackagesCached(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uncached: %v", e.Uncached())
	want := map[string]bool{"data.mesh.references": true}
	for _, p := range e.Packages() {
		_, uncached := e.Uncached()[p]
		if uncached != want[p] {
			t.Errorf("package %s: uncached = %v (%s), want %v", p, uncached, e.Uncached()[p], want[p])
		}
	}
}

// reviewFile parses a mesh into an index and reviews every object with e.
func reviewFile(t testing.TB, e *Engine, data []byte) []Finding {
	t.Helper()
	idx := NewIndex("")
	var objs []*Object
	err := ParseEach("mesh.yaml", data, "default", func(o *Object) error {
		idx.Add(o)
		if o.IsIstioNetworking() {
			objs = append(objs, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := e.ReviewAll(context.Background(), objs, idx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestDecisionCacheEquivalence reviews seeded generated meshes (the
// template mesh and realistic fleets) with and without the decision cache:
// the findings must be identical, messages included.
func TestDecisionCacheEquivalence(t *testing.T) {
	type mesh struct {
		name string
		data []byte
	}
	var meshes []mesh
	var buf bytes.Buffer
	if _, err := meshgen.Write(&buf, meshgen.Spec{Services: 1000, Namespaces: 20, ErrorEvery: 7}); err != nil {
		t.Fatal(err)
	}
	meshes = append(meshes, mesh{"template", bytes.Clone(buf.Bytes())})
	for _, seed := range []uint64{1, 2, 3, 4} {
		buf.Reset()
		if _, err := meshgen.WriteFleet(&buf, meshgen.Fleet{Seed: seed, Services: 1500, PlantRate: 0.1}); err != nil {
			t.Fatal(err)
		}
		meshes = append(meshes, mesh{fmt.Sprintf("fleet-seed-%d", seed), bytes.Clone(buf.Bytes())})
	}
	// A user package the cache answers for, beside the built-in ones.
	userDir := t.TempDir()
	userPolicy := `package acme.splits

findings contains {"code": "ACME1", "severity": "warning", "field": d.field, "message": msg} if {
	some d in input.facts.destinations
	d.subset == "v1"
	some h, facts in input.facts.hosts
	h == d.host
	count(facts.ports) > 1
	msg := sprintf("subset v1 of %s, which has %d ports", [facts.fqdn, count(facts.ports)])
}
`
	if err := os.WriteFile(filepath.Join(userDir, "splits.rego"), []byte(userPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, policies := range [][]string{nil, {userDir}} {
		uncached, err := NewEngine(context.Background(), Options{NoDecisionCache: true, PolicyDirs: policies})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range meshes {
			name := m.name
			if policies != nil {
				name += "-user-policy"
				if m.name != "fleet-seed-1" {
					continue
				}
			}
			compareCached(t, name, m.data, uncached, Options{PolicyDirs: policies, VerifyDecisionCache: true})
		}
	}
}

// compareCached reviews data with the uncached engine and a cached one
// made with opts: the findings must be identical.
func compareCached(t *testing.T, name string, data []byte, uncached *Engine, opts Options) {
	m := struct{ data []byte }{data}
	t.Run(name, func(t *testing.T) {
		cached, err := NewEngine(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(cached.Uncached()) > 1 {
			t.Fatalf("packages left uncached: %v", cached.Uncached())
		}
		want := reviewFile(t, uncached, m.data)
		got := reviewFile(t, cached, m.data)
		if len(want) == 0 {
			t.Fatal("the mesh has no findings: nothing to compare")
		}
		if !reflect.DeepEqual(got, want) {
			for i := 0; i < max(len(got), len(want)); i++ {
				var g, w Finding
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Fatalf("finding %d differs (of %d cached, %d uncached):\ncached:   %+v\nuncached: %+v", i, len(got), len(want), g, w)
				}
			}
		}
		s := cached.CacheStats()
		if s.Hits == 0 {
			t.Errorf("no cache hits: %+v", s)
		}
		t.Logf("%d findings; cache %+v", len(got), s)
	})
}

// TestTokenInvariant checks the invariance check on user packages: what
// only compares names is cached; string builtins, ordering, keys built
// from names and the objects as written are not.
func TestTokenInvariant(t *testing.T) {
	tests := []struct {
		name, body string
		why        string // "" when cached
	}{
		{"equality", `findings contains {"code": "ACME1", "message": msg} if {
	some d in input.facts.destinations
	d.host == "legacy"
	d.subset != ""
	msg := sprintf("host %s (%s)", [d.host, d.subset])
}`, ""},
		{"count and numbers", `findings contains {"code": "ACME2", "message": "too many"} if {
	some route in input.facts.routes
	count(route.destinations) > 3
	sum(route.weights) > 50
}`, ""},
		{"total message helper", `findings contains {"code": "ACME3", "message": hint(h)} if {
	some name, h in input.facts.hosts
	h.resolved == false
}
hint(h) := "internal" if endswith(h.fqdn, ".internal")
else := "external"`, ""},
		{"string builtin on a name", `findings contains {"code": "ACME4", "message": "internal"} if {
	some d in input.facts.destinations
	endswith(d.host, ".internal")
}`, "endswith reads a name"},
		{"ordering names", `findings contains {"code": "ACME5", "message": "order"} if {
	some i, a in input.facts.subsetNames
	some j, b in input.facts.subsetNames
	a < b
}`, "lt reads a name"},
		{"ordering ports", `findings contains {"code": "ACME6", "message": "low port"} if {
	some d in input.facts.destinations
	d.port < 1024
}`, "lt reads a name"},
		{"partial helper decides", `findings contains {"code": "ACME7", "message": "m"} if {
	some d in input.facts.destinations
	internal(d.host) == true
}
internal(h) := true if startswith(h, "int-")`, "startswith reads a name"},
		{"key built from names", `findings contains {"code": "ACME8", "message": "m"} if {
	some d in input.facts.destinations
	input.facts.hosts[sprintf("%s.x", [d.host])]
}`, "looks up a key built from names"},
		{"object as written", `findings contains {"code": "ACME9", "message": "m"} if {
	input.object.metadata.name == "x"
}`, "reads input.object"},
		{"a name compared with a field path", `findings contains {"code": "ACME11", "message": "m"} if {
	some d in input.facts.destinations
	d.host == d.field
}`, "compares a name with a value that is not tokenized"},
		{"a port compared with a weight", `findings contains {"code": "ACME12", "message": "m"} if {
	some d in input.facts.destinations
	d.port == d.weight
}`, "compares a name with a value that is not tokenized"},
		{"hosts looked up by a field path", `findings contains {"code": "ACME13", "message": "m"} if {
	some d in input.facts.destinations
	input.facts.hosts[d.field]
}`, "looks up by a key that is tokenized otherwise"},
		{"a name in a list of field paths", `findings contains {"code": "ACME14", "message": "m"} if {
	some d in input.facts.destinations
	d.host in input.facts.missing
}`, "compares a name with a value that is not tokenized"},
		{"order of names in an array", `findings contains {"code": "ACME10", "message": "m"} if {
	hosts := [h | some h, _ in input.facts.hosts]
	hosts[0] == "a"
}`, "compares text built from names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "package acme.check\n\n" + tt.body + "\n"
			if err := os.WriteFile(filepath.Join(dir, "check.rego"), []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			e, err := NewEngine(context.Background(), Options{PolicyDirs: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			why, uncached := e.Uncached()["data.acme.check"]
			if tt.why == "" && uncached {
				t.Fatalf("want cached, got uncached: %s", why)
			}
			if tt.why != "" && !strings.Contains(why, tt.why) {
				t.Fatalf("want uncached because %q, got %q (uncached %v)", tt.why, why, uncached)
			}
		})
	}
}

// fuzzInput builds a small policy input from data: names from a short
// list (some equal to literals of the policies), port numbers, weights.
func fuzzInput(data []byte, rename func(string) string) *ast.Term {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	names := []string{"a", "b", "c", "", "*", "v1", "mesh", "http"}
	name := func() *ast.Term { return ast.StringTerm(rename(names[next()%len(names)])) }
	ports := []int{80, 8080, 9080, 100}
	port := func() *ast.Term { return ast.IntNumberTerm(ports[next()%len(ports)]) }
	var dests []*ast.Term
	for i := next() % 4; i > 0; i-- {
		dests = append(dests, ast.ObjectTerm(
			item("host", name()), item("subset", name()), item("port", port()),
			item("weight", ast.IntNumberTerm(next()%101)), item("field", ast.StringTerm(fmt.Sprintf("spec.http[%d]", next()%3))),
		))
	}
	var hosts [][2]*ast.Term
	for i := next() % 3; i > 0; i-- {
		labels := ast.ObjectTerm(item("version", name()))
		hosts = append(hosts, [2]*ast.Term{name(), ast.ObjectTerm(
			item("fqdn", name()), item("resolved", ast.BooleanTerm(next()%2 == 0)),
			item("ports", ast.ArrayTerm(ast.ObjectTerm(item("name", name()), item("number", port())))),
			item("subsets", ast.ObjectTerm([2]*ast.Term{name(), ast.ObjectTerm(item("labels", labels), item("workloads", ast.IntNumberTerm(next()%3)))})),
		)})
	}
	return ast.ObjectTerm(
		item("kind", ast.StringTerm("VirtualService")),
		item("facts", ast.ObjectTerm(
			item("namespace", name()),
			item("destinations", ast.ArrayTerm(dests...)),
			item("hosts", ast.ObjectTerm(hosts...)),
			item("exportTo", ast.ArrayTerm(name(), name())),
		)),
	)
}

// FuzzDecisionKey checks the two properties the decision cache rests on:
// equal keys come from equal tokenized inputs, and renaming names
// one-to-one (literals of the policies aside) keeps the key. The renaming
// keeps the names' order: objects keyed by names hold them sorted, so
// another order numbers the tokens otherwise (a miss, never a wrong
// answer).
func FuzzDecisionKey(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{9, 8, 7, 6, 5, 4, 3, 2, 1})
	f.Add([]byte{3, 0, 0, 1, 1, 2, 2}, []byte{3, 0, 0, 1, 1, 2, 2})
	f.Add([]byte{2, 4, 5, 6, 7, 0, 1}, []byte{2, 4, 5, 6, 7, 1, 1})
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	c := e.cache
	encode := func(in *ast.Term) (string, *ast.Term) {
		tk := c.newTokenizer()
		c.key(tk, in, scope{KindVirtualService, OperationCreate}, 1)
		return string(tk.buf), tk.tokenized(in, "", false)
	}
	same := func(s string) string { return s }
	renamed := func(s string) string {
		if _, literal := c.literals[s]; literal || s == "" {
			return s
		}
		return s + "\x00renamed"
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		keyA, tokA := encode(fuzzInput(a, same))
		keyB, tokB := encode(fuzzInput(b, same))
		if (keyA == keyB) != tokA.Equal(tokB) {
			t.Fatalf("keys equal %v, tokenized inputs equal %v:\n%v\n%v", keyA == keyB, tokA.Equal(tokB), tokA, tokB)
		}
		keyR, _ := encode(fuzzInput(a, renamed))
		if keyR != keyA {
			t.Fatalf("renaming changed the key:\n%v\n%v", fuzzInput(a, same), fuzzInput(a, renamed))
		}
	})
}

// TestAdaptiveKeying checks that keys stop when no object repeats a shape,
// that a later window probes again, and that repeats keep keys on.
func TestAdaptiveKeying(t *testing.T) {
	c := newDecisionCache(1<<20, nil, 0)
	keyed := 0
	for i := 0; i < 40*cacheWindow; i++ {
		if !c.useKeys() {
			continue
		}
		keyed++
		k := decisionKey{uint64(i), 1}
		if _, found := c.lookup(k); !found {
			c.store(k, true)
		}
	}
	s := c.snapshot()
	if s.Skipped == 0 || s.Hits != 0 {
		t.Fatalf("distinct objects: %+v", s)
	}
	// One window in skipWindows+1 is keyed once keys stopped paying.
	if max := 40 * cacheWindow * 2 / (skipWindows + 1); keyed > max {
		t.Errorf("%d of %d reviews keyed, want at most %d", keyed, 40*cacheWindow, max)
	}
	c = newDecisionCache(1<<20, nil, 0)
	for i := 0; i < 10*cacheWindow; i++ {
		if !c.useKeys() {
			t.Fatalf("review %d built no key, with every shape repeated", i)
		}
		k := decisionKey{uint64(i % 50), 1}
		if _, found := c.lookup(k); !found {
			c.store(k, true)
		}
	}
}

// TestDecisionCacheLRU checks the cache against a plain list of keys,
// most recently used first, on random lookups and stores.
func TestDecisionCacheLRU(t *testing.T) {
	const size = 8
	c := newDecisionCache(size, nil, 0)
	var model []decisionKey // most recent first
	touch := func(k decisionKey) {
		model = slices.DeleteFunc(model, func(x decisionKey) bool { return x == k })
		model = append([]decisionKey{k}, model...)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := 0; step < 5000; step++ {
		k := decisionKey{uint64(rng.IntN(20))}
		_, found := c.lookup(k)
		if want := slices.Contains(model, k); found != want {
			t.Fatalf("step %d: %v found %v, want %v", step, k, found, want)
		}
		if found {
			touch(k)
			continue
		}
		c.store(k, true)
		touch(k)
		if len(model) > size {
			model = model[:size]
		}
	}
}

// TestDecisionCacheBounded checks the LRU bound: the least recently used
// decision goes first.
func TestDecisionCacheBounded(t *testing.T) {
	c := newDecisionCache(2, nil, 0)
	a, b, d := decisionKey{1}, decisionKey{2}, decisionKey{3}
	c.store(a, true)
	c.store(b, false)
	c.lookup(a)
	c.store(d, true)
	if _, found := c.lookup(b); found {
		t.Error("b, least recently used, should be gone")
	}
	if clean, found := c.lookup(a); !found || !clean {
		t.Errorf("a: found %v clean %v", found, clean)
	}
	if clean, found := c.lookup(d); !found || !clean {
		t.Errorf("d: found %v clean %v", found, clean)
	}
}

// TestDecisionCacheWebhookPath reviews a fleet one object at a time, as
// mesh-webhook does with one long-lived engine, on CREATE, on UPDATE of a
// changed stored object (a DestinationRule losing its subsets, a
// VirtualService before its routes changed) and on DELETE: the findings
// must equal the uncached engine's.
func TestDecisionCacheWebhookPath(t *testing.T) {
	var buf bytes.Buffer
	if _, err := meshgen.WriteFleet(&buf, meshgen.Fleet{Seed: 5, Services: 600, PlantRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	objs, err := Parse("fleet.yaml", buf.Bytes(), "default")
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	cached, err := NewEngine(context.Background(), Options{VerifyDecisionCache: true, DecisionCacheSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	uncached, err := NewEngine(context.Background(), Options{NoDecisionCache: true})
	if err != nil {
		t.Fatal(err)
	}
	// A stored version unlike the new one: another namespace's object of
	// the same kind, so subsets, hosts and routes differ.
	previous := map[string]*Object{}
	compared := 0
	for _, o := range objs {
		if !o.IsIstioNetworking() {
			continue
		}
		reviews := []Review{{Operation: OperationCreate, Object: o}, {Operation: OperationDelete, OldObject: o}}
		if old := previous[o.Kind()]; old != nil {
			reviews = append(reviews, Review{Operation: OperationUpdate, Object: o, OldObject: old})
		}
		previous[o.Kind()] = o
		for _, r := range reviews {
			want, err := uncached.Review(context.Background(), r, idx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cached.Review(context.Background(), r, idx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %s: cached %+v\nuncached %+v", r.Operation, o.Ref(), got, want)
			}
			compared++
		}
	}
	s := cached.CacheStats()
	if s.Hits == 0 {
		t.Errorf("no hits: %+v", s)
	}
	t.Logf("%d reviews; cache %+v", compared, s)
}
