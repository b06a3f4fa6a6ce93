package sim

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-mesh/kubectl-mesh/test/istiocharts"
)

// meshStatus is the part of `kubectl mesh status -o json` the tests read.
type meshStatus struct {
	Installed  bool `json:"installed"`
	Ready      bool `json:"ready"`
	Components []struct {
		Component string `json:"component"`
		Release   string `json:"release"`
		Revision  int    `json:"revision"`
		Ready     bool   `json:"ready"`
		Workloads []struct {
			Name    string `json:"name"`
			Ready   int32  `json:"ready"`
			Desired int32  `json:"desired"`
		} `json:"workloads"`
	} `json:"components"`
	InjectionNamespaces []struct {
		Name  string `json:"name"`
		Label string `json:"label"`
	} `json:"injectionNamespaces"`
	MeshWebhook struct {
		Installed bool   `json:"installed"`
		Namespace string `json:"namespace"`
	} `json:"meshWebhook"`
}

// istio runs `kubectl mesh ARGS` and fails the test on an unexpected exit
// code.
func istio(t *testing.T, c *simCluster, want int, args ...string) string {
	t.Helper()
	out, errOut, err := c.mesh(t, args...)
	if code := exitCode(err); code != want {
		t.Fatalf("kubectl mesh %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

func status(t *testing.T, c *simCluster) meshStatus {
	t.Helper()
	out, _, _ := c.mesh(t, "status", "-o", "json")
	var st meshStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return st
}

func istioDeployments(t *testing.T, c *simCluster) []string {
	t.Helper()
	list, err := c.clients.AppsV1().Deployments("istio-system").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list.Items {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names
}

func helmReleases(t *testing.T, c *simCluster) []string {
	t.Helper()
	list, err := c.clients.CoreV1().Secrets("istio-system").List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Labels["name"])
	}
	return names
}

func istioCRDs(t *testing.T, c *simCluster) []string {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	list, err := c.dynamic.Resource(gvr).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, crd := range list.Items {
		if strings.HasSuffix(crd.GetName(), ".istio.io") {
			names = append(names, crd.GetName())
		}
	}
	return names
}

// TestIstioInstallUpgradeStatusUninstall installs each profile from
// Istio's charts (taken from the Go module cache) with the simulated
// cluster's values, then upgrades, checks status, fails on purpose with a
// bad image tag, and uninstalls.
func TestIstioInstallUpgradeStatusUninstall(t *testing.T) {
	c := needSim(t)
	charts := istiocharts.Dir(t, c.root)
	simValues := filepath.Join(c.root, "hack", "sim", "istio-values.yaml")
	install := func(want int, args ...string) string {
		t.Helper()
		return istio(t, c, want, append([]string{"install", "--charts", charts, "-f", simValues}, args...)...)
	}
	// Whatever an earlier test left: start from no release.
	istio(t, c, 0, "uninstall")

	for _, tc := range []struct {
		profile     string
		lines       []string
		deployments []string
	}{
		{"minimal", []string{"Istio core", "Istiod"}, []string{"istiod"}},
		{"default", []string{"Istio core", "Istiod", "Ingress gateways"}, []string{"istio-ingressgateway", "istiod"}},
		{"demo", []string{"Istio core", "Istiod", "Egress gateways", "Ingress gateways"}, []string{"istio-egressgateway", "istio-ingressgateway", "istiod"}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			start := time.Now()
			out := install(0, "--profile", tc.profile, "--timeout", "90s")
			t.Logf("install --profile %s: %s", tc.profile, time.Since(start).Round(time.Millisecond))
			var want strings.Builder
			for _, l := range tc.lines {
				want.WriteString("✔ " + l + " installed\n")
			}
			want.WriteString("✔ Installation complete\n")
			var marks strings.Builder
			for line := range strings.SplitSeq(out, "\n") {
				if strings.HasPrefix(line, "✔") || strings.HasPrefix(line, "✘") {
					marks.WriteString(line + "\n")
				}
			}
			if marks.String() != want.String() {
				t.Errorf("progress lines:\n%s\nwant:\n%s\nfull output:\n%s", marks.String(), want.String(), out)
			}
			if got := istioDeployments(t, c); !slices.Equal(got, tc.deployments) {
				t.Errorf("Deployments in istio-system %v, want %v", got, tc.deployments)
			}
			st := status(t, c)
			if !st.Installed || !st.Ready || len(st.Components) != len(tc.lines) {
				t.Errorf("status %+v", st)
			}
			for _, comp := range st.Components {
				for _, w := range comp.Workloads {
					if w.Ready != w.Desired || w.Desired == 0 {
						t.Errorf("%s: %s %d/%d ready", comp.Component, w.Name, w.Ready, w.Desired)
					}
				}
			}
			if tc.profile != "demo" {
				istio(t, c, 0, "uninstall")
			}
		})
	}
	if t.Failed() {
		return
	}

	t.Run("upgrade in place", func(t *testing.T) {
		out := install(0, "--profile", "demo", "--timeout", "90s")
		if !strings.Contains(out, "✔ Installation complete") {
			t.Errorf("re-run:\n%s", out)
		}
		for _, comp := range status(t, c).Components {
			if comp.Revision != 2 || !comp.Ready {
				t.Errorf("%s: revision %d, ready %v after the re-run", comp.Release, comp.Revision, comp.Ready)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		ns := "install-sim-injected"
		if _, err := c.clients.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = c.clients.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		})
		istio(t, c, 0, "inject", "enable", ns)
		// An injection-enabled namespace keeps working: its pods are created,
		// with the sidecar the simulated cluster's injector adds.
		if got := podContainers(t, c, ns); !slices.Contains(got, "istio-proxy") {
			t.Errorf("pod containers in %s: %v, want the istio-proxy sidecar", ns, got)
		}
		out := istio(t, c, 0, "status")
		for _, want := range []string{
			"Istio in istio-system:",
			"Istiod            istiod                istiod 1.0.0",
			"Deployment/istio-ingressgateway 1/1",
			"Sidecar injection enabled in:\n  " + ns + "  istio-injection=enabled",
			"mesh-webhook: ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		st := status(t, c)
		found := false
		for _, n := range st.InjectionNamespaces {
			found = found || (n.Name == ns && n.Label == "istio-injection=enabled")
		}
		if !found {
			t.Errorf("status -o json injection namespaces %+v lack %s", st.InjectionNamespaces, ns)
		}
	})

	t.Run("bad image tag fails with the reason", func(t *testing.T) {
		start := time.Now()
		out := install(1, "--profile", "demo", "--set", "global.tag=does-not-exist", "--timeout", "15s")
		took := time.Since(start)
		if took > 25*time.Second {
			t.Errorf("failing took %s with --timeout 15s", took)
		}
		for _, want := range []string{
			"✔ Istio core installed\n",
			"✘ Istiod encountered an error: resources not ready after 15s\n",
			"  Deployment/istio-system/istiod: 0/1 ready\n",
			"container discovery: ImagePullBackOff: Back-off pulling image",
			`/pilot:does-not-exist"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Installation complete") || strings.Contains(out, "Ingress gateways installed") {
			t.Errorf("went on after the failure:\n%s", out)
		}
		// The good values again repair it.
		if out := install(0, "--profile", "demo", "--timeout", "90s"); !strings.Contains(out, "✔ Installation complete") {
			t.Errorf("repair:\n%s", out)
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		out := istio(t, c, 0, "uninstall")
		want := "✔ Ingress gateways removed (release istio-ingressgateway)\n✔ Egress gateways removed (release istio-egressgateway)\n✔ Istiod removed (release istiod)\n✔ Istio core removed (release istio-base)\n✔ Uninstall complete\n"
		if out != want {
			t.Errorf("uninstall:\n%s\nwant:\n%s", out, want)
		}
		if r := helmReleases(t, c); len(r) != 0 {
			t.Errorf("releases left: %v", r)
		}
		if d := istioDeployments(t, c); len(d) != 0 {
			t.Errorf("Deployments left in istio-system: %v", d)
		}
		if crds := istioCRDs(t, c); len(crds) == 0 {
			t.Error("uninstall without --purge deleted Istio's CRDs")
		}
		if st := status(t, c); st.Installed {
			t.Errorf("status after uninstall: %+v", st)
		}
		out = istio(t, c, 0, "uninstall", "--purge")
		if !strings.Contains(out, "✔ Istio CRDs removed (") {
			t.Errorf("uninstall --purge:\n%s", out)
		}
		if crds := istioCRDs(t, c); len(crds) != 0 {
			t.Errorf("CRDs left after --purge: %v", crds)
		}
	})
}

// podContainers creates a one-replica Deployment in ns, waits for its pod
// and returns the pod's container names.
func podContainers(t *testing.T, c *simCluster, ns string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	one := int32(1)
	labels := map[string]string{"app": "injected"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "injected", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
			},
		},
	}
	if _, err := c.clients.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		pods, err := c.clients.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=injected"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) > 0 {
			var names []string
			for _, ct := range pods.Items[0].Spec.Containers {
				names = append(names, ct.Name)
			}
			return names
		}
		select {
		case <-ctx.Done():
			d, _ := c.clients.AppsV1().Deployments(ns).Get(context.Background(), "injected", metav1.GetOptions{})
			t.Fatalf("no pod in %s: %+v", ns, d.Status)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
