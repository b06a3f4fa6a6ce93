package webhookstatus

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// The engine runs on clients alone: on an empty cluster without Istio
// every probe fails and says why, in order.
func TestRunOnAnEmptyCluster(t *testing.T) {
	gv := schema.GroupVersion{Group: "networking.istio.io", Version: "v1"}
	checks := Run(t.Context(), Options{
		Kube:             fake.NewClientset(),
		Dynamic:          dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()),
		Mapper:           meta.NewDefaultRESTMapper([]schema.GroupVersion{gv}),
		ReleaseNamespace: "kubectl-mesh-system",
		Namespace:        "default",
		Now:              time.Now(),
	})
	want := []string{
		"mesh-webhook Deployment: none in namespace kubectl-mesh-system",
		"ValidatingWebhookConfiguration mesh-webhook:",
		"serving certificate (Secret kubectl-mesh-system/mesh-webhook-tls):",
		"admission: a VirtualService with weights 90/20 in namespace default: the cluster does not serve VirtualServices",
	}
	if len(checks) != len(want) {
		t.Fatalf("%d checks, want %d: %+v", len(checks), len(want), checks)
	}
	for i, c := range checks {
		if c.OK || !strings.HasPrefix(c.Text, want[i]) {
			t.Errorf("check %d: %+v, want a failure starting %q", i, c, want[i])
		}
	}
}
