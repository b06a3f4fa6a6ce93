package sim

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-mesh/kubectl-mesh/test/istiocharts"
)

// TestInjectRestart: with Istio installed, pods created before injection
// was enabled lack the sidecar; inject warns about their Deployment, and
// with --restart recreates them with it.
func TestInjectRestart(t *testing.T) {
	c := needSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	charts := istiocharts.Dir(t, c.root)
	istio(t, c, 0, "install", "--profile", "minimal", "--charts", charts, "-f", filepath.Join(c.root, "hack", "sim", "istio-values.yaml"), "--timeout", "90s")
	t.Cleanup(func() { c.mesh(t, "uninstall") }) //nolint:errcheck // best effort

	ns := c.namespace(t, "inject-restart")
	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.invalid/web:1"}}},
			},
		},
	}
	if _, err := c.clients.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// sidecars counts the Deployment's running pods with and without the
	// istio-proxy container.
	sidecars := func() (with, without int) {
		pods, err := c.clients.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			has := false
			for _, ct := range p.Spec.Containers {
				has = has || ct.Name == "istio-proxy"
			}
			if has {
				with++
			} else {
				without++
			}
		}
		return with, without
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	waitFor("2 pods without the sidecar", func() bool { _, without := sidecars(); return without == 2 })

	out, stderr, err := c.mesh(t, "inject", "enable", ns)
	if err != nil || !strings.Contains(stderr, "deployment/web has pods without the istio-proxy sidecar") {
		t.Fatalf("inject enable without --restart should warn about deployment/web: %v\n%s%s", err, out, stderr)
	}
	if with, _ := sidecars(); with != 0 {
		t.Fatalf("without --restart no pod may change, %d got the sidecar", with)
	}
	out, stderr, err = c.mesh(t, "inject", "enable", ns, "--restart")
	if err != nil || !strings.Contains(out, "deployment/web restarted") {
		t.Fatalf("inject enable --restart: %v\n%s%s", err, out, stderr)
	}
	waitFor("2 pods with the sidecar and none without", func() bool { with, without := sidecars(); return with == 2 && without == 0 })
	out, stderr, err = c.mesh(t, "inject", "enable", ns)
	if err != nil || strings.Contains(stderr, "deployment/web") {
		t.Errorf("once every pod has the sidecar, nothing is left to restart: %v\n%s%s", err, out, stderr)
	}
}
