package istioinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/workload"
	"github.com/kubectl-mesh/kubectl-mesh/test/istiocharts"
)

func TestComponentsOf(t *testing.T) {
	for profile, want := range map[string]string{
		"demo":    "Istio core,Istiod,Egress gateways,Ingress gateways",
		"default": "Istio core,Istiod,Ingress gateways",
		"minimal": "Istio core,Istiod",
	} {
		comps, err := ComponentsOf(profile)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range comps {
			names = append(names, c.Name)
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s: %s, want %s", profile, got, want)
		}
	}
	if _, err := ComponentsOf("ambient"); err == nil {
		t.Error("unknown profile accepted")
	}
}

func TestComponentOfRelease(t *testing.T) {
	for name, want := range map[string]string{
		"istio-base": "Istio core", "istiod": "Istiod", "istiod-canary": "Istiod",
		"istio-ingressgateway": "Ingress gateways", "istio-egressgateway": "Egress gateways", "mesh-webhook": "",
	} {
		c, ok := ComponentOf(name)
		if c.Name != want || ok != (want != "") {
			t.Errorf("ComponentOf(%s) = %q, %v", name, c.Name, ok)
		}
	}
	if Istiod.ReleaseName("canary") != "istiod-canary" || Ingress.ReleaseName("canary") != "istio-ingressgateway" {
		t.Error("revisioned release names")
	}
}

func TestComponentValues(t *testing.T) {
	user := map[string]any{
		"global":               map[string]any{"hub": "example"},
		"pilot":                map[string]any{"traceSampling": 1.0},
		"istio-ingressgateway": map[string]any{"service": map[string]any{"type": "NodePort"}},
		"istiod":               map[string]any{"pilot": map[string]any{"replicaCount": 2}},
	}
	o := Options{Profile: ProfileDemo, Revision: "canary", Values: user}
	istiod := componentValues(o, Istiod)
	if istiod["profile"] != "demo" || istiod["revision"] != "canary" || istiod["istio-ingressgateway"] != nil {
		t.Errorf("istiod values %v", istiod)
	}
	if pilot := istiod["pilot"].(map[string]any); pilot["traceSampling"] != 1.0 || pilot["replicaCount"] != 2 {
		t.Errorf("istiod pilot values %v: shared and release-named values should merge", pilot)
	}
	base := componentValues(o, Core)
	if _, ok := base["revision"]; ok {
		t.Error("the base chart got a revision: it is shared by revisions")
	}
	ingress := componentValues(o, Ingress)
	if ingress["pilot"] != nil || ingress["global"].(map[string]any)["hub"] != "example" {
		t.Errorf("ingress values %v: only global of the shared values", ingress)
	}
	if ingress["service"].(map[string]any)["type"] != "NodePort" || ingress["labels"].(map[string]any)["istio"] != "ingressgateway" {
		t.Errorf("ingress values %v", ingress)
	}
	if egress := componentValues(o, Egress); egress["service"].(map[string]any)["type"] != "ClusterIP" {
		t.Errorf("egress values %v", egress)
	}
	// The user's map is not changed by planning.
	if _, ok := user["profile"]; ok {
		t.Error("componentValues wrote into the user's values")
	}
	if def := componentValues(Options{Profile: ProfileDefault}, Istiod); len(def) != 0 {
		t.Errorf("default profile istiod values %v, want the charts' own", def)
	}
}

func plan(t *testing.T, profile string) []Release {
	t.Helper()
	o := Options{Profile: profile, ChartsDir: istiocharts.Dir(t, "../..")}
	comps, _ := ComponentsOf(profile)
	charts, err := LoadCharts(o, comps)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := Plan(o, charts)
	if err != nil {
		t.Fatal(err)
	}
	return rels
}

func readyDeployment(name string) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, UID: types.UID("uid-" + name)},
		Spec: appsv1.DeploymentSpec{Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
		Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	}
}

// Install against Helm's in-memory storage and a fake clientset holding
// the Deployments as the cluster would make them.
func TestInstallProgressAndUpgrade(t *testing.T) {
	rels := plan(t, ProfileDemo)
	cfg := helmrelease.MemoryConfig(Namespace, io.Discard)
	kube := fake.NewClientset(readyDeployment("istiod"), readyDeployment("istio-ingressgateway"), readyDeployment("istio-egressgateway"))
	var out bytes.Buffer
	in := &Installer{Config: func(string) (*action.Configuration, error) { return cfg, nil }, Kube: kube, Progress: progress.New(&out), Timeout: time.Minute}
	if _, err := in.Install(context.Background(), rels); err != nil {
		t.Fatal(err)
	}
	want := "✔ Istio core installed\n✔ Istiod installed\n✔ Egress gateways installed\n✔ Ingress gateways installed\n✔ Installation complete\n"
	if out.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", out.String(), want)
	}
	if _, err := kube.CoreV1().Namespaces().Get(context.Background(), Namespace, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace not created: %v", err)
	}
	// Again: every release upgraded to revision 2.
	if _, err := in.Install(context.Background(), rels); err != nil {
		t.Fatal(err)
	}
	installed, err := Installed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range installed {
		got = append(got, fmt.Sprintf("%s:%d", r.Name, r.Version))
	}
	if strings.Join(got, ",") != "istio-base:2,istiod:2,istio-egressgateway:2,istio-ingressgateway:2" {
		t.Errorf("releases after the second install: %v", got)
	}
}

func TestInstallFailureSaysWhy(t *testing.T) {
	rels := plan(t, ProfileMinimal)
	cfg := helmrelease.MemoryConfig(Namespace, io.Discard)
	stuck := readyDeployment("istiod")
	stuck.Status = appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-1", Namespace: Namespace, Labels: map[string]string{"app": "istiod"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "discovery", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "istio/pilot:does-not-exist"`},
		}}}},
	}
	kube := fake.NewClientset([]runtime.Object{stuck, pod}...)
	var out bytes.Buffer
	in := &Installer{Config: func(string) (*action.Configuration, error) { return cfg, nil }, Kube: kube, Progress: progress.New(&out), Timeout: 4 * time.Second}
	start := time.Now()
	_, err := in.Install(context.Background(), rels)
	var ce *ComponentError
	if !errors.As(err, &ce) || ce.Component != Istiod {
		t.Fatalf("err = %v, want Istiod's ComponentError", err)
	}
	var nre *workload.NotReadyError
	if !errors.As(err, &nre) {
		t.Errorf("err %v does not carry the NotReadyError", err)
	}
	// Long enough for Helm to apply the base chart's CRDs on a busy machine.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("failing took %s with a 4s timeout", took)
	}
	want := `✔ Istio core installed
- Processing resources for Istiod. Waiting for Deployment/istio-system/istiod
✘ Istiod encountered an error: resources not ready after 4s
  Deployment/istio-system/istiod: 0/1 ready
    pod istiod-1: container discovery: ImagePullBackOff: Back-off pulling image "istio/pilot:does-not-exist"
`
	if out.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestWorkloadsOfRelease(t *testing.T) {
	rels, err := Render(context.Background(), plan(t, ProfileDefault))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rel := range rels {
		refs, err := Workloads(rel)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			got = append(got, r.String())
		}
	}
	if strings.Join(got, ",") != "Deployment/istio-system/istiod,Deployment/istio-system/istio-ingressgateway" {
		t.Errorf("workloads %v", got)
	}
}
