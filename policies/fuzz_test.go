package policies

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidate drives arbitrary bytes through the whole offline path:
// parse, index, review. It must never panic, every load error must be an
// *InputError naming the input, and every finding must be well formed.
func FuzzValidate(f *testing.F) {
	seeds, _ := filepath.Glob("../plugin/testdata/validate/*.yaml")
	seeds2, _ := filepath.Glob("../examples/validate/*.yaml")
	for _, p := range append(seeds, seeds2...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(reviewsService + "---" + reviewsRule + "---" + vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 90\n    - destination: {host: reviews, subset: v3}\n      weight: 20\n")))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"x"},"spec":{"hosts":7,"http":[{"route":[{"destination":{"host":["a"]},"weight":1e40}]}]}}]}`))
	f.Add([]byte("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  servers: [{hosts: [1, {}], port: {number: x}}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("fuzz.yaml", data, "default")
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("load error is not an InputError naming the file: %v", err)
			}
			return
		}
		idx := NewIndex("")
		for _, o := range objs {
			idx.Add(o)
		}
		fs, err := e.ReviewAll(context.Background(), objs, idx, 1)
		if err != nil {
			t.Fatalf("review: %v", err)
		}
		for _, f := range fs {
			if f.Code == "" || f.Message == "" || !validCategory(f.Category) || (f.Severity != SeverityError && f.Severity != SeverityWarning) {
				t.Fatalf("malformed finding %+v", f)
			}
		}
	})
}
