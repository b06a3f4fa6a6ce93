package policies

import (
	"reflect"
	"testing"
)

func TestInventoryView(t *testing.T) {
	objs, err := Parse("v.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: default
  resourceVersion: "7"
  labels: {team: a}
  annotations: {networking.istio.io/exportTo: ".", note: long text}
spec:
  host: reviews
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
`), "default")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "DestinationRule",
		"metadata": map[string]any{"name": "reviews", "namespace": "default", "resourceVersion": "7",
			"annotations": map[string]any{"networking.istio.io/exportTo": "."}},
		"spec": map[string]any{"host": "reviews", "subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}}},
	}
	if got := InventoryView(objs[0].Raw); !reflect.DeepEqual(got, want) {
		t.Errorf("InventoryView:\n got %v\nwant %v", got, want)
	}
}
