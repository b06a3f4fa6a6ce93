package policies

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCheck covers the ways a Change is made: files, objects over the live
// cluster (reviewed as UPDATEs of the stored ones), deletions, and reviews
// the caller formed.
func TestCheck(t *testing.T) {
	parse := func(t *testing.T, docs ...string) []*Object {
		t.Helper()
		var out []*Object
		for _, d := range docs {
			objs, err := Parse("test.yaml", []byte(d), "default")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, objs...)
		}
		return out
	}
	routeToV2 := vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v2}\n")
	ruleWithoutV2 := `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
`
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "rule.yaml")
	if err := os.WriteFile(file, []byte(ruleWithoutV2), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		change    func(t *testing.T) Change
		codes     []string
		resources int
	}{
		{"a file dropping a subset a live route names is an UPDATE", func(t *testing.T) Change {
			return Change{Files: []string{file}, Live: parse(t, reviewsService, reviewsRule, routeToV2)}
		}, []string{"MESH0601"}, 1},
		{"the same file offline is a creation", func(t *testing.T) Change {
			return Change{Files: []string{file}}
		}, nil, 1},
		{"objects win over the live objects they replace", func(t *testing.T) Change {
			return Change{Apply: parse(t, routeToV2), Live: parse(t, reviewsService, ruleWithoutV2)}
		}, []string{"MESH0301"}, 1},
		{"a written rule with the subset back makes the route whole", func(t *testing.T) Change {
			return Change{Apply: parse(t, reviewsRule, routeToV2), Live: parse(t, reviewsService, ruleWithoutV2)}
		}, nil, 2},
		{"deleting a rule a live route uses is refused", func(t *testing.T) Change {
			return Change{Delete: parse(t, reviewsRule), Live: parse(t, reviewsService, reviewsRule, routeToV2)}
		}, []string{"MESH0602"}, 0},
		{"deleting the route with the rule is allowed", func(t *testing.T) Change {
			return Change{Delete: parse(t, reviewsRule, routeToV2), Live: parse(t, reviewsService, reviewsRule, routeToV2)}
		}, nil, 0},
		{"deleting what does not exist reviews nothing", func(t *testing.T) Change {
			return Change{Delete: parse(t, reviewsRule), Live: parse(t, reviewsService)}
		}, nil, 0},
		{"a formed review over an inventory", func(t *testing.T) Change {
			idx := NewIndex("")
			for _, o := range parse(t, reviewsService, ruleWithoutV2) {
				idx.Add(o)
			}
			return Change{Reviews: []Review{{Operation: OperationCreate, Object: parse(t, routeToV2)[0]}}, Inventory: idx}
		}, []string{"MESH0301"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.Check(context.Background(), tc.change(t))
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, f := range out.Findings {
				if f.IsError() {
					codes = append(codes, f.Code)
				}
			}
			if !slices.Equal(codes, tc.codes) {
				t.Errorf("error codes %v, want %v (findings %+v)", codes, tc.codes, out.Findings)
			}
			if out.Resources != tc.resources {
				t.Errorf("resources %d, want %d", out.Resources, tc.resources)
			}
		})
	}
}

func TestCheckRefusesMixedChanges(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	review := Review{Operation: OperationDelete, OldObject: NewObject(map[string]any{"apiVersion": "v1", "kind": "Service"}, Source{})}
	for name, c := range map[string]Change{
		"reviews with files":          {Reviews: []Review{review}, Inventory: NewIndex(""), Files: []string{"x.yaml"}},
		"reviews without inventory":   {Reviews: []Review{review}},
		"inventory with live objects": {Inventory: NewIndex(""), Live: []*Object{review.OldObject}},
	} {
		if _, err := e.Check(context.Background(), c); err == nil {
			t.Errorf("%s: Check accepted the change", name)
		}
	}
	if _, err := e.Check(context.Background(), Change{Files: []string{"/does/not/exist.yaml"}}); err == nil {
		t.Error("Check read a file that does not exist")
	}
}
