package policies

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// routeReferenceCases is test/oracle/testdata/route-references.yaml,
// whose cases test/oracle holds against pilot: the route sites each
// change breaks.
type routeReferenceCases struct {
	Base  string `yaml:"base"`
	Cases []struct {
		Name     string   `yaml:"name"`
		Manifest string   `yaml:"manifest"`
		Delete   string   `yaml:"delete"`
		Update   string   `yaml:"update"`
		Broken   []string `yaml:"broken"`
	} `yaml:"cases"`
}

// TestRouteReferenceCases reviews each change of the oracle's cases as
// the webhook does (the stored object, and the new one on UPDATE): it is
// refused exactly when pilot shows route sites breaking, and names those.
func TestRouteReferenceCases(t *testing.T) {
	path := filepath.Join("..", "test", "oracle", "testdata", "route-references.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rc routeReferenceCases
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&rc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	e, err := NewEngine(context.Background(), Options{VerifyDecisionCache: true})
	if err != nil {
		t.Fatal(err)
	}
	identity := func(o *Object) string { return o.Group() + "/" + o.Kind() + " " + o.Namespace() + "/" + o.Name() }
	for _, tc := range rc.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			objs, err := Parse("case.yaml", []byte(rc.Base+"\n---\n"+tc.Manifest), "default")
			if err != nil {
				t.Fatal(err)
			}
			idx := NewIndex("")
			for _, o := range objs {
				idx.Add(o)
			}
			r := Review{Operation: OperationUpdate}
			change := tc.Update
			if tc.Delete != "" {
				r.Operation, change = OperationDelete, tc.Delete
			}
			changed, err := Parse("change.yaml", []byte(change), "default")
			if err != nil || len(changed) != 1 {
				t.Fatalf("the change: %d objects, %v", len(changed), err)
			}
			for _, o := range objs {
				if identity(o) == identity(changed[0]) {
					r.OldObject = o
				}
			}
			if r.OldObject == nil {
				t.Fatalf("no stored %s", identity(changed[0]))
			}
			if r.Operation == OperationUpdate {
				r.Object = changed[0]
			}
			var got []string
			for _, u := range BuildFacts(r, idx, Settings{}).RouteUses {
				_, ref, _ := strings.Cut(u.Route, " ")
				got = append(got, ref+" "+u.Field)
			}
			sort.Strings(got)
			want := append([]string(nil), tc.Broken...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("routeUses %q, pilot breaks %q", got, want)
			}
			fs, err := e.Review(context.Background(), r, idx)
			if err != nil {
				t.Fatal(err)
			}
			if refused := hasError(fs); refused != (len(want) > 0) {
				t.Errorf("refused %v, pilot breaks %q:\n%s", refused, want, messages(fs))
			}
			for _, f := range fs {
				for _, site := range want {
					ref, field, _ := strings.Cut(site, " ")
					if !strings.Contains(f.Message, ref+" ("+field+")") {
						t.Errorf("%s does not name %s", f.Text(), site)
					}
				}
			}
		})
	}
}

func hasError(fs []Finding) bool {
	for _, f := range fs {
		if f.IsError() {
			return true
		}
	}
	return false
}
