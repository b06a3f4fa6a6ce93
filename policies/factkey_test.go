package policies

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

// TestFactsKeyMatchesInput holds factsKey to the key of the input as OPA
// terms, byte for byte, for every package's view of the facts and for
// the whole input: on generated meshes reviewed as creates and as updates
// of themselves (usedBy, oldSubsetNames), and on Gateway API routes.
func TestFactsKeyMatchesInput(t *testing.T) {
	var docs []string
	var buf bytes.Buffer
	if _, err := meshgen.Write(&buf, meshgen.Spec{Services: 200, Namespaces: 10, ErrorEvery: 7}); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, buf.String())
	for _, seed := range []uint64{1, 2} {
		buf.Reset()
		if _, err := meshgen.WriteFleet(&buf, meshgen.Fleet{Seed: seed, Services: 400, PlantRate: 0.1}); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, buf.String())
	}
	docs = append(docs, strings.Join([]string{reviewsService, reviewsRule, webGateway, teamGrant, externalEntry,
		httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080, weight: 3}, {name: reviewz, port: 8080}]\n"),
		httpRoute("team", "  parentRefs: [{name: web, namespace: default, sectionName: shared, port: 8080}]\n  rules:\n  - backendRefs: [{name: reviews, namespace: default, port: 9080}, {group: networking.istio.io, kind: Hostname, name: api.example.com, port: 443}]\n"),
	}, "\n---\n"))
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	views := []readSet{{all: true}}
	for _, reads := range e.cached {
		views = append(views, reads)
	}
	for i, data := range docs {
		objs, idx := benchInventory(t, []byte(data))
		hosts := newHostCache()
		checked := 0
		for _, o := range objs {
			if !o.IsReviewed() {
				continue
			}
			for _, r := range []Review{{Operation: OperationCreate, Object: o}, {Operation: OperationUpdate, Object: o, OldObject: o}} {
				facts := buildFacts(r, idx, e.settings, hosts)
				input, err := inputTerm(r, facts, e.settingsTerm, false)
				if err != nil {
					t.Fatal(err)
				}
				sc := scope{o.Kind(), r.Operation}
				for _, reads := range views {
					tk := e.cache.newTokenizer()
					tk.view(reads)
					want := e.cache.key(tk, input, sc, 1)
					wantBytes := bytes.Clone(tk.buf)
					tk.view(reads)
					got := e.cache.factsKey(tk, facts, e.settings, sc, 1)
					if !bytes.Equal(tk.buf, wantBytes) || got != want {
						t.Fatalf("mesh %d, %s %s, reads %v:\nfacts %q\ninput %q", i, r.Operation, o.Ref(), reads, tk.buf, wantBytes)
					}
					e.cache.release(tk)
					checked++
				}
			}
		}
		if checked == 0 {
			t.Fatalf("mesh %d: nothing reviewed", i)
		}
		t.Logf("mesh %d: %d keys", i, checked)
	}
}
