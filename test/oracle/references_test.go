package oracle

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// referenceCases is testdata/route-references.yaml: changes to what
// HTTPRoutes refer to, shared with the policies' tests of the review of
// such a change.
type referenceCases struct {
	Base  string `json:"base"`
	Cases []struct {
		Name     string   `json:"name"`
		Manifest string   `json:"manifest"`
		Delete   string   `json:"delete"`
		Update   string   `json:"update"`
		Broken   []string `json:"broken"`
	} `json:"cases"`
}

// identity names a document by group, kind, namespace and name: a Gateway
// API Gateway is not Istio's Gateway.
func identity(t *testing.T, doc string) string {
	t.Helper()
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name, Namespace string
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatalf("reading %q: %v", doc, err)
	}
	group, _, _ := strings.Cut(obj.APIVersion, "/")
	if !strings.Contains(obj.APIVersion, "/") {
		group = ""
	}
	return group + "/" + obj.Kind + " " + obj.Metadata.Namespace + "/" + obj.Metadata.Name
}

// changed is the manifest with the document of the same identity as
// object removed (deleted) or replaced by it.
func changed(t *testing.T, manifest, object string, deleted bool) string {
	t.Helper()
	want := identity(t, object)
	var out []string
	found := false
	for _, d := range splitDocs(manifest) {
		if identity(t, d) != want {
			out = append(out, d)
			continue
		}
		found = true
		if !deleted {
			out = append(out, object)
		}
	}
	if !found {
		t.Fatalf("the manifest has no %s", want)
	}
	return strings.Join(out, "\n---\n")
}

// brokenSites lists the route sites pilot shows failing.
func brokenSites(t *testing.T, manifest string) map[string]bool {
	t.Helper()
	m, err := Parse([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range EvaluateRoutes(t, m) {
		for _, b := range r.Broken {
			out[r.Namespace+"/"+r.Name+" "+b.Field] = true
		}
	}
	return out
}

// TestRouteReferences holds the cases of the referenced side against
// pilot: the route sites that work before a delete or update and fail
// after it are exactly those the case lists, which kubectl-mesh's review
// of the change must name (and no others).
func TestRouteReferences(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "route-references.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rc referenceCases
	if err := yaml.UnmarshalStrict(data, &rc); err != nil {
		t.Fatalf("testdata/route-references.yaml: %v", err)
	}
	for _, tc := range rc.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			before := rc.Base + "\n---\n" + tc.Manifest
			var after string
			switch {
			case tc.Delete != "" && tc.Update == "":
				after = changed(t, before, tc.Delete, true)
			case tc.Update != "" && tc.Delete == "":
				after = changed(t, before, tc.Update, false)
			default:
				t.Fatal("a case deletes or updates one object")
			}
			was, is := brokenSites(t, before), brokenSites(t, after)
			var got []string
			for s := range is {
				if !was[s] {
					got = append(got, s)
				}
			}
			sort.Strings(got)
			want := append([]string(nil), tc.Broken...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("the change breaks %q in pilot, the case says %q", got, want)
			}
		})
	}
}
