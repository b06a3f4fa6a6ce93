package e2e

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWebhookInstallUninstall installs the embedded chart with the Helm SDK
// through `kubectl mesh webhook install` and removes it again. No pods run
// on this control plane, so the webhook it registers uses failurePolicy
// Ignore here and status reports the missing replicas.
func TestWebhookInstallUninstall(t *testing.T) {
	c := needCluster(t)
	ctx := context.Background()
	out, errOut, err := c.run(t, "", c.pluginBin, "webhook", "install", "--set", "failurePolicy=Ignore", "--set", "replicas=1")
	if err != nil {
		t.Fatalf("install: %v\n%s%s", err, out, errOut)
	}
	vwc, err := c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "mesh-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fp := vwc.Webhooks[0].FailurePolicy; fp == nil || string(*fp) != "Ignore" || *vwc.Webhooks[0].TimeoutSeconds != 3 {
		t.Errorf("webhook configuration: %+v", vwc.Webhooks[0])
	}
	dep, err := c.clients.AppsV1().Deployments("kubectl-mesh-system").Get(ctx, "mesh-webhook", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 1 {
		t.Fatalf("deployment: %v %+v", err, dep)
	}
	out, _, err = c.run(t, "", c.pluginBin, "webhook", "status")
	t.Logf("status:\n%s", out)
	if err == nil || !strings.Contains(out, "Ignore") || !strings.Contains(out, "FAIL") {
		t.Errorf("status without running pods must fail and name the failure policy: %v\n%s", err, out)
	}
	// Re-running upgrades in place.
	if out, errOut, err := c.run(t, "", c.pluginBin, "webhook", "install", "--set", "failurePolicy=Ignore", "--set", "replicas=2"); err != nil {
		t.Fatalf("upgrade: %v\n%s%s", err, out, errOut)
	}
	if dep, _ := c.clients.AppsV1().Deployments("kubectl-mesh-system").Get(ctx, "mesh-webhook", metav1.GetOptions{}); *dep.Spec.Replicas != 2 {
		t.Errorf("upgrade did not change replicas")
	}
	if out, errOut, err := c.run(t, "", c.pluginBin, "webhook", "uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s%s", err, out, errOut)
	}
	if _, err := c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "mesh-webhook", metav1.GetOptions{}); err == nil {
		t.Error("uninstall left the webhook configuration")
	}
	if _, err := c.clients.AppsV1().Deployments("kubectl-mesh-system").Get(ctx, "mesh-webhook", metav1.GetOptions{}); err == nil {
		t.Error("uninstall left the deployment")
	}
}
