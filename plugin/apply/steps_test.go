package apply

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestStagesWithDeletions(t *testing.T) {
	vs := obj("VirtualService", "networking.istio.io/v1", "shop", "web", nil)
	dr := obj("DestinationRule", "networking.istio.io/v1", "shop", "web", nil)
	dr.SetResourceVersion("4")
	vs2 := vs.DeepCopy()
	vs2.SetLabels(map[string]string{"second": "write"})
	stages := Stages([]Step{
		{Object: vs, Result: vs, What: "vs"},
		Deletion(dr, "destinationrule/web deleted"),
		{Object: vs2, Result: vs2, What: "vs again"},
	})
	names := func(objs []*unstructured.Unstructured) string {
		var out []string
		for _, o := range objs {
			out = append(out, o.GetKind()+"/"+o.GetName())
		}
		return strings.Join(out, " ")
	}
	want := []struct{ objects, deleted string }{
		{"VirtualService/web", ""},
		{"VirtualService/web", "DestinationRule/web"},
		{"VirtualService/web", "DestinationRule/web"},
	}
	if len(stages) != len(want) {
		t.Fatalf("%d stages", len(stages))
	}
	for i, w := range want {
		if got := names(stages[i].Objects); got != w.objects {
			t.Errorf("stage %d objects %s, want %s", i, got, w.objects)
		}
		if got := names(stages[i].Deleted); got != w.deleted {
			t.Errorf("stage %d deleted %s, want %s", i, got, w.deleted)
		}
	}
	if stages[2].Objects[0].GetLabels()["second"] != "write" || stages[0].Objects[0].GetLabels()["second"] != "" {
		t.Error("a stage does not hold the object as it stands then")
	}
	if d := Deletion(dr, "x"); d.Object.GetResourceVersion() != "4" || !d.Delete || d.Object.Object["spec"] != nil {
		t.Errorf("Deletion = %+v", d)
	}
}

func TestApplyStepsDeletes(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	live := obj("DestinationRule", "networking.istio.io/v1", "shop", "httpbin", map[string]any{"host": "httpbin"})
	live.SetResourceVersion("7")
	unstructured.RemoveNestedField(live.Object, "metadata", "managedFields")
	for _, mode := range []DryRun{DryRunNone, DryRunServer, DryRunClient} {
		t.Run(string(mode), func(t *testing.T) {
			client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "DestinationRuleList"}, live.DeepCopy())
			out, err := (&Applier{Client: client, DryRun: mode}).ApplySteps(context.Background(), []Step{Deletion(live, "destinationrule/httpbin deleted")})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].GetName() != "httpbin" {
				t.Errorf("results %v", out)
			}
			var deletes []metav1.DeleteOptions
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteActionImpl); ok {
					deletes = append(deletes, d.DeleteOptions)
				}
			}
			if mode == DryRunClient {
				if len(deletes) != 0 {
					t.Errorf("a client dry run deleted: %v", deletes)
				}
				return
			}
			if len(deletes) != 1 || deletes[0].Preconditions == nil || *deletes[0].Preconditions.ResourceVersion != "7" {
				t.Fatalf("deletes %+v, want one on condition of resourceVersion 7", deletes)
			}
			if server := len(deletes[0].DryRun) == 1 && deletes[0].DryRun[0] == metav1.DryRunAll; server != (mode == DryRunServer) {
				t.Errorf("dryRun %v in mode %s", deletes[0].DryRun, mode)
			}
		})
	}
	// A failing deletion names the object and stops the steps.
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "DestinationRuleList"})
	_, err := (&Applier{Client: client}).ApplySteps(context.Background(), []Step{Deletion(live, "destinationrule/httpbin deleted")})
	if err == nil || !strings.Contains(err.Error(), "destinationrule/httpbin deleted: deleting destinationrule/httpbin -n shop") {
		t.Errorf("deleting what is gone: %v", err)
	}
}

// A deletion is checked as the webhook checks one: a Gateway that a
// VirtualService is still bound to cannot go.
func TestPreflightReviewsDeletions(t *testing.T) {
	gw := obj("Gateway", "networking.istio.io/v1", "shop", "edge", map[string]any{
		"selector": map[string]any{"istio": "ingressgateway"},
		"servers":  []any{map[string]any{"port": map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"}, "hosts": []any{"*"}}},
	})
	svc := obj("Service", "v1", "shop", "web", map[string]any{"ports": []any{map[string]any{"port": int64(80), "name": "http"}}})
	vs := obj("VirtualService", "networking.istio.io/v1", "shop", "web", map[string]any{
		"hosts": []any{"*"}, "gateways": []any{"edge"},
		"http": []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "web"}}}}},
	})
	client := inventoryClient(t, gw, svc, vs)
	p := &Preflight{Client: client}
	_, err := p.CheckSteps(context.Background(), []Step{Deletion(gw, "gateway/edge deleted")})
	if !IsRejected(err) || !strings.Contains(err.Error(), "MESH0604") {
		t.Fatalf("deleting a bound Gateway: %v", err)
	}
	// Once the VirtualService has left the Gateway, it may go.
	unbound := vs.DeepCopy()
	unstructured.RemoveNestedField(unbound.Object, "spec", "gateways")
	unstructured.SetNestedStringSlice(unbound.Object, []string{"web"}, "spec", "hosts")
	if _, err := p.CheckSteps(context.Background(), []Step{{Object: unbound, Result: unbound}, Deletion(gw, "gateway/edge deleted")}); err != nil {
		t.Errorf("deleting an unbound Gateway: %v", err)
	}
}

// inventoryClient is a fake dynamic client that serves the lists the
// preflight reads, holding objs.
func inventoryClient(t *testing.T, objs ...*unstructured.Unstructured) *dynamicfake.FakeDynamicClient {
	t.Helper()
	kinds := map[schema.GroupVersionResource]string{}
	for gk, resource := range knownResources {
		kinds[schema.GroupVersionResource{Group: gk.Group, Version: "v1", Resource: resource}] = gk.Kind + "List"
	}
	kinds[schema.GroupVersionResource{Version: "v1", Resource: "pods"}] = "PodList"
	// The Gateway API's kinds that references resolve against.
	kinds[schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}] = "GatewayList"
	kinds[schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "referencegrants"}] = "ReferenceGrantList"
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds)
	for _, o := range objs {
		// The tracker guesses "gatewaies" from the kind: name the resource.
		gvr, _, err := (&Applier{}).Resource(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Tracker().Create(gvr, o, o.GetNamespace()); err != nil {
			t.Fatal(err)
		}
	}
	return client
}
