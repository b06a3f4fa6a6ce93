package apply

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(kind, apiVersion, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns, "managedFields": []any{map[string]any{"manager": "x"}}},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

func TestParseDryRun(t *testing.T) {
	for in, want := range map[string]DryRun{"": DryRunNone, "none": DryRunNone, "client": DryRunClient, "true": DryRunClient, "server": DryRunServer} {
		got, err := ParseDryRun(in)
		if err != nil || got != want {
			t.Errorf("ParseDryRun(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseDryRun("sometimes"); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("ParseDryRun(sometimes): %v", err)
	}
}

func TestPrint(t *testing.T) {
	a := obj("Service", "v1", "default", "a", nil)
	b := obj("Service", "v1", "default", "b", nil)
	tests := []struct {
		format string
		objs   []*unstructured.Unstructured
		want   []string
		absent string
	}{
		{"yaml", []*unstructured.Unstructured{a, b}, []string{"name: a\n", "---\n", "name: b\n"}, "managedFields"},
		{"json", []*unstructured.Unstructured{a}, []string{`"name": "a"`}, `"List"`},
		{"json", []*unstructured.Unstructured{a, b}, []string{`"kind": "List"`, `"name": "b"`}, "managedFields"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := Print(&out, tt.format, tt.objs); err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: %q missing from\n%s", tt.format, w, out.String())
			}
		}
		if strings.Contains(out.String(), tt.absent) {
			t.Errorf("%s: %q should not be in\n%s", tt.format, tt.absent, out.String())
		}
	}
	if err := Print(&bytes.Buffer{}, "table", []*unstructured.Unstructured{a}); err == nil {
		t.Error("Print(table) should fail")
	}
}

func TestClientDryRunLeavesTheClusterAlone(t *testing.T) {
	a := &Applier{DryRun: DryRunClient} // no client: touching it would panic
	out, err := a.ApplyAll(context.Background(), []*unstructured.Unstructured{obj("Service", "v1", "default", "a", nil)})
	if err != nil || len(out) != 1 || out[0].GetName() != "a" {
		t.Fatalf("ApplyAll = %v, %v", out, err)
	}
}

func TestResourceOfUnknownKindWithoutMapper(t *testing.T) {
	_, _, err := (&Applier{}).Resource(obj("Widget", "example.com/v1", "default", "w", nil))
	if err == nil || !strings.Contains(err.Error(), "Widget") {
		t.Fatalf("want an error naming the kind, got %v", err)
	}
}

func TestPreflightRejectsWithWebhookText(t *testing.T) {
	svc := obj("Service", "v1", "shop", "reviews", map[string]any{"ports": []any{map[string]any{"port": int64(9080), "name": "http"}}})
	vs := obj("VirtualService", "networking.istio.io/v1", "shop", "reviews", map[string]any{
		"hosts": []any{"reviews"},
		"http": []any{map[string]any{"route": []any{
			map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v1"}, "weight": int64(90)},
			map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v2"}, "weight": int64(20)},
		}}},
	})
	dr := obj("DestinationRule", "networking.istio.io/v1", "shop", "reviews", map[string]any{
		"host":    "reviews",
		"subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}, map[string]any{"name": "v2", "labels": map[string]any{"version": "v2"}}},
	})
	p := &Preflight{}
	_, err := p.Check(context.Background(), []*unstructured.Unstructured{svc, dr, vs})
	if !IsRejected(err) {
		t.Fatalf("want a rejection, got %v", err)
	}
	if !strings.Contains(err.Error(), "Error [MESH0104] VirtualService shop/reviews") {
		t.Errorf("rejection does not carry the finding text:\n%v", err)
	}
	unstructured.SetNestedSlice(vs.Object, []any{map[string]any{"route": []any{
		map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v1"}, "weight": int64(90)},
		map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v2"}, "weight": int64(10)},
	}}}, "spec", "http")
	if _, err := p.Check(context.Background(), []*unstructured.Unstructured{svc, dr, vs}); err != nil {
		t.Fatalf("a 90/10 split over defined subsets was rejected: %v", err)
	}
}
