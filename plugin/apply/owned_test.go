package apply

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func managed(manager, operation, fields string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationType(operation), FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
}

func TestOwned(t *testing.T) {
	live := obj("DestinationRule", "networking.istio.io/v1", "shop", "httpbin", map[string]any{
		"host": "httpbin",
		"trafficPolicy": map[string]any{
			"connectionPool": map[string]any{"tcp": map[string]any{"maxConnections": int64(1)}},
			"tls":            map[string]any{"mode": "ISTIO_MUTUAL"},
		},
		"subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}},
	})
	live.SetAnnotations(map[string]string{"mine": "1", "theirs": "2"})
	live.SetManagedFields([]metav1.ManagedFieldsEntry{
		managed("kubectl-mesh", "Apply", `{"f:metadata":{"f:annotations":{"f:mine":{}}},"f:spec":{"f:trafficPolicy":{"f:connectionPool":{"f:tcp":{"f:maxConnections":{}}}},"f:subsets":{}}}`),
		managed("kubectl", "Apply", `{"f:spec":{"f:host":{},"f:trafficPolicy":{"f:tls":{"f:mode":{}}}}}`),
		managed("kubectl-mesh", "Update", `{"f:spec":{"f:host":{}}}`), // not an apply: not what apply would remove
	})
	got := Owned(live, "kubectl-mesh")
	want := map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": "httpbin", "namespace": "shop", "annotations": map[string]any{"mine": "1"}},
		"spec": map[string]any{
			"trafficPolicy": map[string]any{"connectionPool": map[string]any{"tcp": map[string]any{"maxConnections": int64(1)}}},
			"subsets":       []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}},
		},
	}
	if !reflect.DeepEqual(got.Object, want) {
		t.Errorf("Owned =\n%v\nwant\n%v", got.Object, want)
	}
	// The copy is deep: changing it leaves live alone.
	unstructured.SetNestedField(got.Object, int64(5), "spec", "trafficPolicy", "connectionPool", "tcp", "maxConnections")
	if v, _, _ := unstructured.NestedInt64(live.Object, "spec", "trafficPolicy", "connectionPool", "tcp", "maxConnections"); v != 1 {
		t.Errorf("Owned shares memory with live: %d", v)
	}
	if none := Owned(nil, "kubectl-mesh"); len(none.Object) != 0 {
		t.Errorf("Owned(nil) = %v", none.Object)
	}
}

func TestMerged(t *testing.T) {
	live := obj("VirtualService", "networking.istio.io/v1", "shop", "web", map[string]any{
		"hosts": []any{"web"},
		"http":  []any{map[string]any{"timeout": "1s"}, map[string]any{"timeout": "2s"}},
	})
	partial := obj("VirtualService", "networking.istio.io/v1", "shop", "web", map[string]any{
		"http": []any{map[string]any{"timeout": "3s"}},
	})
	got := Merged(live, partial, FieldManager)
	hosts, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "hosts")
	http, _, _ := unstructured.NestedSlice(got.Object, "spec", "http")
	if !reflect.DeepEqual(hosts, []string{"web"}) || len(http) != 1 {
		t.Errorf("Merged: hosts %v, http %v", hosts, http)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(got.Object, "metadata", "managedFields"); found {
		t.Error("Merged keeps managedFields")
	}
	if created := Merged(nil, partial, FieldManager); !reflect.DeepEqual(created.Object["spec"], partial.Object["spec"]) {
		t.Errorf("Merged(nil, p) = %v", created.Object)
	}
}

// Fields the manager applied before and leaves out now go, unless another
// manager owns them too.
func TestMergedDropsReleasedFields(t *testing.T) {
	live := obj("VirtualService", "networking.istio.io/v1", "shop", "web", map[string]any{
		"hosts": []any{"web"}, "gateways": []any{"gw"}, "exportTo": []any{"."},
	})
	live.SetAnnotations(map[string]string{"history": "[]", "note": "keep"})
	live.SetManagedFields([]metav1.ManagedFieldsEntry{
		managed(FieldManager, "Apply", `{"f:metadata":{"f:annotations":{"f:history":{},"f:note":{}}},"f:spec":{"f:hosts":{},"f:gateways":{},"f:exportTo":{}}}`),
		managed("kubectl", "Update", `{"f:metadata":{"f:annotations":{"f:note":{}}},"f:spec":{"f:gateways":{}}}`),
	})
	partial := obj("VirtualService", "networking.istio.io/v1", "shop", "web", map[string]any{"hosts": []any{"web"}})
	got := Merged(live, partial, FieldManager)
	spec, _, _ := unstructured.NestedMap(got.Object, "spec")
	if _, ok := spec["exportTo"]; ok {
		t.Error("exportTo, owned by kubectl-mesh alone and left out, should go")
	}
	if _, ok := spec["gateways"]; !ok {
		t.Error("gateways, co-owned by kubectl, should stay")
	}
	if a := got.GetAnnotations(); a["history"] != "" || a["note"] != "keep" {
		t.Errorf("annotations %v", a)
	}
}
