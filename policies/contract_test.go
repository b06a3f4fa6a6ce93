package policies

import (
	"context"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"go.yaml.in/yaml/v3"
)

// The policy input is written out in three places: the builder in term.go,
// the input helpers of the Rego tests (policies/rego/inputs_test.rego) and
// docs/policies.md. TestInputContract keeps them saying the same.

// dataKeyed are the maps of input.facts whose keys are data (hosts, ports,
// subset names, label names) rather than field names; "*" stands for any key.
func dataKeyed() []string {
	return []string{
		"facts.hosts",
		"facts.byHost",
		"facts.hosts.*.portSet",
		"facts.hosts.*.destinationRule.subsets",
		"facts.hosts.*.destinationRule.subsets.*.labels",
		"facts.reach[].hosts",
	}
}

func TestInputContract(t *testing.T) {
	built := inputPaths(t, builtFacts(t))
	documented := documentedPaths(t)
	for _, p := range sortedPaths(built) {
		if !documented[p] && !elided(documented, p) {
			t.Errorf("term.go sends %s, which docs/policies.md (The input document) does not describe", p)
		}
	}
	for _, p := range sortedPaths(documented) {
		if !built[p] && !strings.HasSuffix(p, "…") {
			t.Errorf("docs/policies.md describes %s, which term.go does not send", p)
		}
	}

	// The Rego tests complete partial facts with every key term.go sends,
	// so that a policy reading a key never meets an undefined one in tests
	// alone.
	defaults := regoDefaultFacts(t)
	for _, p := range sortedPaths(built) {
		if strings.Count(p, ".") == 1 && !strings.HasSuffix(p, "[]") && !defaults[strings.TrimPrefix(p, "facts.")] {
			t.Errorf("policies/rego/inputs_test.rego's defaults lack %s", p)
		}
	}
	for k := range defaults {
		if !built["facts."+k] {
			t.Errorf("policies/rego/inputs_test.rego's defaults have %s, which term.go does not send", k)
		}
	}

	// The constructors of one destination and one host give the keys
	// term.go gives them (a host's destinationRule only when one applies).
	for query, prefix := range map[string]string{
		`data.mesh.test_inputs.destination({})`: "facts.destinations[].",
		`data.mesh.test_inputs.host("h", {})`:   "facts.hosts.*.",
	} {
		keys := regoKeys(t, query)
		for _, p := range sortedPaths(built) {
			k, ok := strings.CutPrefix(p, prefix)
			if ok && !strings.ContainsAny(k, ".[*") && k != "destinationRule" && !keys[k] {
				t.Errorf("%s lacks %s", query, p)
			}
		}
		for k := range keys {
			if !built[prefix+k] {
				t.Errorf("%s has %s, which term.go does not send", query, k)
			}
		}
	}
}

// builtFacts returns input.facts as term.go builds it from Facts with one
// element in every list and map, so every key it can send shows.
func builtFacts(t *testing.T) any {
	var f Facts
	populate(reflect.ValueOf(&f).Elem())
	v, err := ast.JSON(f.term().Value)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"facts": v}
}

// populate fills every slice with one element, every map with one entry
// and every pointer with a value, recursively.
func populate(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				populate(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		populate(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		populate(v.Index(0))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		key := reflect.New(v.Type().Key()).Elem()
		if key.Kind() == reflect.String {
			key.SetString("k")
		}
		val := reflect.New(v.Type().Elem()).Elem()
		populate(val)
		m.SetMapIndex(key, val)
		v.Set(m)
	}
}

// documentedPaths reads the YAML block under "## The input document".
func documentedPaths(t *testing.T) map[string]bool {
	data, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "## The input document")
	if !ok {
		t.Fatal("docs/policies.md has no section The input document")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/policies.md: The input document has no yaml block")
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("docs/policies.md: The input document: %v", err)
	}
	return inputPaths(t, map[string]any{"facts": doc["facts"]})
}

// elided reports whether the docs leave p's subtree out with "..." ("as
// above").
func elided(documented map[string]bool, p string) bool {
	for q := range documented {
		if base, ok := strings.CutSuffix(q, ".…"); ok && strings.HasPrefix(p, base+".") {
			return true
		}
		if base, ok := strings.CutSuffix(q, "[].…"); ok && strings.HasPrefix(p, base+"[]") {
			return true
		}
	}
	return false
}

// inputPaths lists the paths of v: "a.b" for keys, "a[]" for list items,
// "*" for the keys of the dataKeyed maps and "…" for an elided subtree.
func inputPaths(t *testing.T, v any) map[string]bool {
	paths := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		_, isMap := v.(map[string]any)
		_, isList := v.([]any)
		// Keys are compared, and list items and data-keyed values only
		// when they have keys of their own.
		if path != "" && (isMap || isList || !strings.HasSuffix(path, "[]") && !strings.HasSuffix(path, "*")) {
			paths[path] = true
		}
		switch v := v.(type) {
		case map[string]any:
			keyed := false
			for _, d := range dataKeyed() {
				keyed = keyed || d == path
			}
			for k, e := range v {
				switch {
				case k == "...":
					paths[path+".…"] = true
				case keyed:
					walk(path+".*", e)
				case path == "":
					walk(k, e)
				default:
					walk(path+"."+k, e)
				}
			}
		case []any:
			for _, e := range v {
				if e == "..." {
					paths[path+"[].…"] = true
					continue
				}
				walk(path+"[]", e)
			}
		}
	}
	walk("", v)
	return paths
}

// regoDefaultFacts returns the keys mesh.test_inputs.defaults gives.
func regoDefaultFacts(t *testing.T) map[string]bool {
	return regoKeys(t, `data.mesh.test_inputs.defaults({})`)
}

// regoKeys returns the keys of the object a query of the Rego tests'
// input helpers gives.
func regoKeys(t *testing.T, query string) map[string]bool {
	src, err := os.ReadFile("rego/inputs_test.rego")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rego.New(
		rego.Query(query),
		rego.Module("inputs_test.rego", string(src)),
	).Eval(context.Background())
	if err != nil || len(rs) == 0 || len(rs[0].Expressions) == 0 {
		t.Fatalf("evaluating %s: %v", query, err)
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, not an object", query, rs[0].Expressions[0].Value)
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
}

func sortedPaths(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
