package sim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startLocalWebhook builds mesh-webhook and runs it on loopback through
// hack/localwebhook, which registers the chart's configuration (failure
// policy Fail) pointing at it, until the test ends. It returns the path of
// mesh-webhook's log.
func (c *simCluster) startLocalWebhook(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for pkg, out := range map[string]string{"./cmd/mesh-webhook": "mesh-webhook", "./hack/localwebhook": "localwebhook"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		build.Dir = c.root
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, b)
		}
	}
	cmd := exec.Command(filepath.Join(dir, "localwebhook"), "-kubeconfig", c.kubeconfig, "-webhook", filepath.Join(dir, "mesh-webhook"), "-dir", dir, "-name", name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("localwebhook ended before mesh-webhook was ready")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("mesh-webhook not ready within 90 s")
	}
	return filepath.Join(dir, "mesh-webhook.log")
}

// TestNamespaceDeletionIsNotWedged deletes a namespace whose
// DestinationRule is still routed to from another namespace, with
// mesh-webhook registered with failurePolicy Fail: the namespace
// controller of kube-controller-manager must be able to delete it, so
// the namespace goes away instead of staying Terminating.
func TestNamespaceDeletionIsNotWedged(t *testing.T) {
	c := needSim(t)
	c.ensureIstioCRDs(t)
	const owner, user = "wedge-owner", "wedge-user"
	if _, stderr, err := c.run(t, "", c.kubectl, "create", "namespace", owner); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	c.namespace(t, user)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: %[1]s}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: %[1]s}
spec:
  host: reviews.%[1]s.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: %[2]s}
spec:
  hosts: [reviews.%[1]s.svc.cluster.local]
  http:
  - route:
    - destination: {host: reviews.%[1]s.svc.cluster.local, subset: v1}
`, owner, user)
	if _, stderr, err := c.run(t, manifest, c.kubectl, "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	log := c.startLocalWebhook(t, "mesh-webhook-wedge")
	// Once its cache has the route, mesh-webhook denies a user's delete.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, stderr, err := c.run(t, "", c.kubectl, "delete", "destinationrule", "reviews", "-n", owner, "--dry-run=server")
		if err != nil && strings.Contains(stderr, "MESH0602") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a user's delete of the routed DestinationRule is not denied: %v\n%s", err, stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, stderr, err := c.run(t, "", c.kubectl, "delete", "namespace", owner, "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	ctx := context.Background()
	deadline = time.Now().Add(120 * time.Second)
	for {
		_, err := c.clients.CoreV1().Namespaces().Get(ctx, owner, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			ns, _ := c.clients.CoreV1().Namespaces().Get(ctx, owner, metav1.GetOptions{})
			b, _ := os.ReadFile(log)
			t.Fatalf("namespace %s still there 120 s after its deletion: %+v\nmesh-webhook log:\n%s", owner, ns.Status, b)
		}
		time.Sleep(time.Second)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "admitted unchecked") {
		t.Errorf("mesh-webhook logged no admitted deletion:\n%s", b)
	}
}
