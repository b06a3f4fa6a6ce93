package webhook

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// TestLiveServiceEntriesAreNarrow: a host that is no Service makes the
// live read list ServiceEntries in the object's namespace, the root
// namespace and where the cache has a candidate, never cluster-wide, and
// finds one created a moment ago.
func TestLiveServiceEntriesAreNarrow(t *testing.T) {
	lists := map[schema.GroupVersionResource]string{}
	for r, kind := range map[string]string{"serviceentries": "ServiceEntryList", "destinationrules": "DestinationRuleList"} {
		lists[schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: r}] = kind
	}
	fresh := u("networking.istio.io/v1", "ServiceEntry", "team", "api", map[string]any{"hosts": []any{"api.example.com"}, "ports": []any{map[string]any{"number": int64(443), "name": "https", "protocol": "TLS"}}})
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, fresh)
	cached := policies.NewIndex("")
	other := u("networking.istio.io/v1", "ServiceEntry", "shared", "api-elsewhere", map[string]any{"hosts": []any{"api.example.com"}})
	cached.Add(policies.NewObject(other.Object, policies.Source{}))

	vs := u("networking.istio.io/v1", "VirtualService", "team", "api", map[string]any{"hosts": []any{"api.example.com"},
		"tls": []any{map[string]any{"match": []any{map[string]any{"port": int64(443), "sniHosts": []any{"api.example.com"}}}, "route": []any{map[string]any{"destination": map[string]any{"host": "api.example.com"}}}}}})
	r := policies.Review{Operation: policies.OperationCreate, Object: policies.NewObject(vs.Object, policies.Source{})}
	a := &APIReader{Client: client, IstioVersion: "v1", ClusterDomain: "cluster.local", RootNamespace: "istio-system"}
	inv, err := a.Overlay(context.Background(), r, cached)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, act := range client.Actions() {
		if act.GetVerb() == "list" && act.GetResource().Resource == "serviceentries" {
			ns := act.(k8stesting.ListAction).GetNamespace()
			if ns == "" {
				t.Error("a cluster-wide list of ServiceEntries")
			}
			listed = append(listed, ns)
		}
	}
	slices.Sort(listed)
	if want := []string{"istio-system", "shared", "team"}; !slices.Equal(listed, want) {
		t.Errorf("ServiceEntries listed in %v, want %v", listed, want)
	}
	var names []string
	for _, se := range inv.ServiceEntriesForHost("api.example.com") {
		names = append(names, se.Namespace+"/"+se.Name)
	}
	if !slices.Contains(names, "team/api") {
		t.Errorf("ServiceEntries for the host %v: the one created a moment ago is missing", names)
	}
}

// TestLiveRouteReferences: a route's Services, parent Gateway and the
// ReferenceGrants of the namespaces it routes to are re-read live, so
// objects applied together with the route a moment ago are found.
func TestLiveRouteReferences(t *testing.T) {
	gw := schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: "v1", Resource: "gateways"}
	grants := schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: "v1beta1", Resource: "referencegrants"}
	lists := map[schema.GroupVersionResource]string{grants: "ReferenceGrantList", gw: "GatewayList"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists,
		u("v1", "Service", "default", "reviews", map[string]any{"ports": []any{map[string]any{"name": "http", "port": int64(9080)}}}),
		u(policies.GatewayAPIGroup+"/v1beta1", "ReferenceGrant", "default", "team", map[string]any{
			"from": []any{map[string]any{"group": policies.GatewayAPIGroup, "kind": "HTTPRoute", "namespace": "team"}},
			"to":   []any{map[string]any{"group": "", "kind": "Service"}},
		}),
	)
	web := u(policies.GatewayAPIGroup+"/v1", "Gateway", "default", "web", map[string]any{"listeners": []any{map[string]any{"name": "http", "port": int64(80), "protocol": "HTTP"}}})
	if _, err := client.Resource(gw).Namespace("default").Create(context.Background(), web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	route := u(policies.GatewayAPIGroup+"/v1", "HTTPRoute", "team", "reviews", map[string]any{
		"parentRefs": []any{map[string]any{"name": "web", "namespace": "default"}},
		"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "reviews", "namespace": "default", "port": int64(9080)}}}},
	})
	r := policies.Review{Operation: policies.OperationCreate, Object: policies.NewObject(route.Object, policies.Source{})}
	a := &APIReader{Client: client, IstioVersion: "v1", ClusterDomain: "cluster.local", RootNamespace: "istio-system", GatewayAPI: []schema.GroupVersionResource{gw, grants}}
	inv, err := a.Overlay(context.Background(), r, policies.NewIndex(""))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Service("default", "reviews") == nil {
		t.Error("the backend Service is not read live")
	}
	if inv.KubeGateway("default", "web") == nil {
		t.Error("the parent Gateway is not read live")
	}
	if len(inv.ReferenceGrantsIn("default")) != 1 {
		t.Error("the ReferenceGrant is not read live")
	}
	f := policies.BuildFacts(r, inv, policies.Settings{ClusterDomain: "cluster.local"})
	if b := f.BackendRefs[0]; !b.Exists || !b.PortExists || !b.Permitted {
		t.Errorf("backendRef facts over the live reads: %+v", b)
	}
}

// TestLiveRouteUses: a route the cache says a deleted Service breaks is
// re-read live; one changed a moment ago to route elsewhere no longer
// holds up the delete.
func TestLiveRouteUses(t *testing.T) {
	routes := schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: "v1", Resource: "httproutes"}
	route := func(backend string) map[string]any {
		return map[string]any{
			"parentRefs": []any{map[string]any{"name": "web"}},
			"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": backend, "port": int64(9080)}}}},
		}
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{routes: "HTTPRouteList"},
		u(policies.GatewayAPIGroup+"/v1", "HTTPRoute", "default", "reviews", route("reviews")))
	ratings := u("v1", "Service", "default", "ratings", map[string]any{"ports": []any{map[string]any{"name": "http", "port": int64(9080)}}})
	cached := policies.NewIndex("")
	cached.Add(policies.NewObject(ratings.Object, policies.Source{}))
	cached.Add(policies.NewObject(u(policies.GatewayAPIGroup+"/v1", "HTTPRoute", "default", "reviews", route("ratings")).Object, policies.Source{}))
	r := policies.Review{Operation: policies.OperationDelete, OldObject: policies.NewObject(ratings.Object, policies.Source{})}
	if f := policies.BuildFacts(r, cached, policies.Settings{}); len(f.RouteUses) != 1 {
		t.Fatalf("the cached route's uses %+v", f.RouteUses)
	}
	a := &APIReader{Client: client, IstioVersion: "v1", ClusterDomain: "cluster.local", RootNamespace: "istio-system", GatewayAPI: []schema.GroupVersionResource{routes}}
	inv, err := a.Overlay(context.Background(), r, cached)
	if err != nil {
		t.Fatal(err)
	}
	if f := policies.BuildFacts(r, inv, policies.Settings{}); len(f.RouteUses) != 0 {
		t.Errorf("over the live route, the delete still breaks %+v", f.RouteUses)
	}
}
