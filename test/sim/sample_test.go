package sim

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSampleDeployCleanup deploys httpbin, fortio and curl, waits for their
// Deployments, and cleans them up while a hand-made ConfigMap stays.
func TestSampleDeployCleanup(t *testing.T) {
	c := needSim(t)
	ns := c.namespace(t, "samples")
	ctx := context.Background()

	out, stderr, err := c.mesh(t, "sample", "deploy", "httpbin", "fortio", "curl", "-n", ns, "--no-inject", "--timeout", "2m")
	if err != nil {
		t.Fatalf("sample deploy: %v\n%s\n%s", err, out, stderr)
	}
	for _, want := range []string{"deployment.apps/fortio-deploy serverside-applied", "✔ Sample httpbin ready", "✔ Sample fortio ready", "✔ Sample curl ready", "✔ Samples httpbin, fortio, curl deployed in namespace " + ns} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"httpbin", "fortio-deploy", "curl"} {
		d, err := c.clients.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || d.Status.AvailableReplicas != 1 {
			t.Errorf("deployment %s: %v available, %v", name, d.Status.AvailableReplicas, err)
		}
	}
	svc, err := c.clients.CoreV1().Services(ns).Get(ctx, "httpbin", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != 8000 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
		t.Errorf("service httpbin: %+v %v", svc.Spec.Ports, err)
	}

	if _, err := c.clients.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// One sample by name leaves the others.
	out, stderr, err = c.mesh(t, "sample", "cleanup", "fortio", "-n", ns)
	if err != nil || strings.Count(out, " deleted") != 2 {
		t.Fatalf("sample cleanup fortio: %v\n%s\n%s", err, out, stderr)
	}
	if _, err := c.clients.AppsV1().Deployments(ns).Get(ctx, "httpbin", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup fortio removed httpbin: %v", err)
	}
	out, stderr, err = c.mesh(t, "sample", "cleanup", "-n", ns)
	if err != nil {
		t.Fatalf("sample cleanup: %v\n%s", err, stderr)
	}
	if n := strings.Count(out, " deleted"); n != 6 {
		t.Errorf("cleanup deleted %d objects, want 6 (2 Deployments, 2 Services, 2 ServiceAccounts):\n%s", n, out)
	}
	for _, kind := range []string{"deployments", "services", "serviceaccounts"} {
		left, _, err := c.run(t, "", c.kubectl, "get", kind, "-n", ns, "-l", "kubectl-mesh.io/sample", "-o", "name")
		if err != nil || strings.TrimSpace(left) != "" {
			t.Errorf("after cleanup, %s left: %q %v", kind, left, err)
		}
	}
	if _, err := c.clients.CoreV1().ConfigMaps(ns).Get(ctx, "mine", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup removed a hand-made ConfigMap: %v", err)
	}
	if _, _, err := c.mesh(t, "sample", "deploy", "nginx-svc", "-n", ns); exitCode(err) != 2 {
		t.Errorf("sample deploy nginx-svc: exit %d, want 2", exitCode(err))
	}
}
