package istioinstall

import (
	"context"
	"io"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
)

func storedRelease(name, namespace, chartName, manifest string, status release.Status) *release.Release {
	return &release.Release{
		Name: name, Namespace: namespace, Version: 1, Manifest: manifest,
		Info:  &release.Info{Status: status},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: chartName, Version: "1.0.0", AppVersion: "1.0.0"}},
	}
}

func TestStatusRead(t *testing.T) {
	// One in-memory store for every namespace, read per namespace as the
	// secrets driver would.
	cfg := helmrelease.MemoryConfig("", io.Discard)
	mem := cfg.Releases.Driver.(*driver.Memory)
	for _, r := range []*release.Release{
		storedRelease("istio-base", Namespace, "base", "", release.StatusDeployed),
		storedRelease("istiod", Namespace, "istiod", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: istiod\n", release.StatusDeployed),
		storedRelease("istio-ingressgateway", Namespace, "gateway", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: istio-ingressgateway\n", release.StatusDeployed),
		storedRelease("mesh-webhook", "kubectl-mesh-system", "mesh-webhook", "", release.StatusDeployed),
		storedRelease("unrelated", Namespace, "other", "", release.StatusDeployed),
	} {
		mem.SetNamespace(r.Namespace)
		if err := cfg.Releases.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	config := func(ns string) (*action.Configuration, error) {
		mem.SetNamespace(ns)
		return cfg, nil
	}
	istiod := readyDeployment("istiod")
	gateway := readyDeployment("istio-ingressgateway")
	gateway.Status.AvailableReplicas = 0
	gateway.Status.ReadyReplicas = 0
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	kube := fake.NewClientset(istiod, gateway,
		ns("shop", map[string]string{InjectionLabel: "enabled"}),
		ns("canary", map[string]string{RevisionLabel: "canary"}),
		ns("optout", map[string]string{InjectionLabel: "disabled", RevisionLabel: "canary"}),
		ns("plain", nil))
	st, err := (&StatusReader{Config: config, Kube: kube, WebhookRelease: "mesh-webhook"}).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Installed || st.Ready || len(st.Components) != 3 {
		t.Fatalf("status %+v: want 3 components, installed, not ready", st)
	}
	want := []struct {
		release string
		ready   bool
		wl      int
	}{{"istio-base", true, 0}, {"istiod", true, 1}, {"istio-ingressgateway", false, 1}}
	for i, w := range want {
		c := st.Components[i]
		if c.Release != w.release || c.Ready != w.ready || len(c.Workloads) != w.wl || c.ChartVersion != "1.0.0" || c.Status != "deployed" {
			t.Errorf("component %d: %+v, want %s ready=%v", i, c, w.release, w.ready)
		}
	}
	if g := st.Components[2].Workloads[0]; g.Ready != 0 || g.Desired != 1 || !g.Found {
		t.Errorf("gateway workload %+v", g)
	}
	inj := st.InjectionNamespaces
	if len(inj) != 2 || inj[0] != (InjectionNamespace{"canary", "istio.io/rev=canary"}) || inj[1] != (InjectionNamespace{"shop", "istio-injection=enabled"}) {
		t.Errorf("injection namespaces %+v", inj)
	}
	if wh := st.MeshWebhook; !wh.Installed || wh.Namespace != "kubectl-mesh-system" || wh.Status != "deployed" {
		t.Errorf("mesh-webhook %+v", wh)
	}
}
