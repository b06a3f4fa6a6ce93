package webhook

import (
	"context"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

func u(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

// TestClusterInventoryFollowsTheCluster lists and watches through the
// reflectors into the Index: adds, updates and deletes all show.
func TestClusterInventoryFollowsTheCluster(t *testing.T) {
	lists := map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "services"}: "ServiceList",
	}
	for r, kind := range map[string]string{"serviceentries": "ServiceEntryList", "destinationrules": "DestinationRuleList", "gateways": "GatewayList", "virtualservices": "VirtualServiceList"} {
		lists[schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: r}] = kind
	}
	svc := u("v1", "Service", "default", "reviews", map[string]any{"ports": []any{map[string]any{"name": "http", "port": int64(9080)}}})
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, svc)
	ci := NewClusterInventory(client, "v1", "cluster.local")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = ci.Start(ctx) }()
	if !ci.WaitSynced(ctx, 10*time.Second) {
		t.Fatal("never synced")
	}
	if ci.Service("default", "reviews") == nil {
		t.Fatal("listed Service missing")
	}
	drGVR := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	dr := u("networking.istio.io/v1", "DestinationRule", "default", "reviews", map[string]any{
		"host": "reviews", "subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}},
		"trafficPolicy": map[string]any{"tls": map[string]any{"mode": "ISTIO_MUTUAL"}},
	})
	if _, err := client.Resource(drGVR).Namespace("default").Create(ctx, dr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return len(ci.DestinationRulesFor("default", "reviews.default.svc.cluster.local")) == 1 })
	dr.Object["spec"].(map[string]any)["subsets"] = append(dr.Object["spec"].(map[string]any)["subsets"].([]any), map[string]any{"name": "v2"})
	if _, err := client.Resource(drGVR).Namespace("default").Update(ctx, dr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		rules := ci.DestinationRulesFor("default", "reviews.default.svc.cluster.local")
		return len(rules) == 1 && len(rules[0].Subsets) == 2
	})
	if err := client.Resource(drGVR).Namespace("default").Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return len(ci.DestinationRulesFor("default", "reviews.default.svc.cluster.local")) == 0 })
	if err := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace("default").Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return ci.Service("default", "reviews") == nil })
}

// TestIndexStoreReplace drops what a relist no longer has.
func TestIndexStoreReplace(t *testing.T) {
	ci := NewClusterInventory(dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), "v1", "")
	store := ci.stores[0]
	a := u("v1", "Service", "default", "a", map[string]any{})
	b := u("v1", "Service", "default", "b", map[string]any{})
	if err := store.Replace([]any{a, b}, "1"); err != nil {
		t.Fatal(err)
	}
	if ci.Service("default", "a") == nil || ci.Service("default", "b") == nil || ci.HasSynced() {
		t.Fatal("first list not indexed, or synced before every store listed")
	}
	if err := store.Replace([]any{b.DeepCopy()}, "2"); err != nil {
		t.Fatal(err)
	}
	if ci.Service("default", "a") != nil || ci.Service("default", "b") == nil {
		t.Fatal("relist kept a Service it no longer has")
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}

// TestGatewayAPIResources: Gateways, ReferenceGrants and the routes are
// watched in the first version served, and not at all without the
// Gateway API's CRDs.
func TestGatewayAPIResources(t *testing.T) {
	gvr := func(v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: v, Resource: r}
	}
	cases := []struct {
		name   string
		served []*metav1.APIResourceList
		want   []schema.GroupVersionResource
	}{
		{name: "no Gateway API"},
		{
			name: "both in v1",
			served: []*metav1.APIResourceList{
				{GroupVersion: policies.GatewayAPIGroup + "/v1", APIResources: []metav1.APIResource{{Name: "gateways"}, {Name: "httproutes"}, {Name: "referencegrants"}}},
				{GroupVersion: policies.GatewayAPIGroup + "/v1beta1", APIResources: []metav1.APIResource{{Name: "gateways"}, {Name: "referencegrants"}}},
			},
			want: []schema.GroupVersionResource{gvr("v1", "gateways"), gvr("v1", "referencegrants"), gvr("v1", "httproutes")},
		},
		{
			name: "ReferenceGrant in v1beta1 only",
			served: []*metav1.APIResourceList{
				{GroupVersion: policies.GatewayAPIGroup + "/v1", APIResources: []metav1.APIResource{{Name: "gateways"}, {Name: "httproutes"}}},
				{GroupVersion: policies.GatewayAPIGroup + "/v1beta1", APIResources: []metav1.APIResource{{Name: "referencegrants"}}},
				{GroupVersion: policies.GatewayAPIGroup + "/v1alpha2", APIResources: []metav1.APIResource{{Name: "grpcroutes"}}},
			},
			want: []schema.GroupVersionResource{gvr("v1", "gateways"), gvr("v1beta1", "referencegrants"), gvr("v1", "httproutes"), gvr("v1alpha2", "grpcroutes")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: tc.served}}
			got, err := GatewayAPIResources(disc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
