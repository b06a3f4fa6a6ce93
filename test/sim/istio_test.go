package sim

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	virtualServices  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	destinationRules = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	deploymentsGVR   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	servicesGVR      = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	configMapsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// ensureIstioCRDs applies Istio's CRDs from the istio.io/api module,
// server-side, and waits until they are served: other tests of the
// package (an uninstall, say) may have removed them.
func ensureIstioCRDs(t *testing.T, c *simCluster) {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "istio.io/api@v1.32.0").Output()
	if err != nil {
		t.Fatalf("go mod download istio.io/api: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download istio.io/api: no module directory in %s", out)
	}
	crds := filepath.Join(mod.Dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if stdout, stderr, err := c.run(t, "", c.kubectl, "apply", "--server-side", "--force-conflicts", "-f", crds); err != nil {
		t.Fatalf("applying Istio's CRDs: %v\n%s%s", err, stdout, stderr)
	}
	if stdout, stderr, err := c.run(t, "", c.kubectl, "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/virtualservices.networking.istio.io", "crd/destinationrules.networking.istio.io", "crd/gateways.networking.istio.io", "crd/serviceentries.networking.istio.io"); err != nil {
		t.Fatalf("waiting for Istio's CRDs: %v\n%s%s", err, stdout, stderr)
	}
}

// newNamespace creates a namespace of its own for a test and deletes it
// afterwards.
func newNamespace(t *testing.T, c *simCluster, prefix string) string {
	t.Helper()
	ns, err := c.clients.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.clients.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// kubectlApply applies a manifest with the real kubectl, as a user would:
// the objects are then another field manager's.
func kubectlApply(t *testing.T, c *simCluster, ns, manifest string, extra ...string) {
	t.Helper()
	args := append([]string{"apply", "-n", ns, "-f", "-"}, extra...)
	if out, errOut, err := c.run(t, manifest, c.kubectl, args...); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
}

// meshRun runs `kubectl mesh ARGS` and fails the test on another exit code.
func meshRun(t *testing.T, c *simCluster, want int, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := c.mesh(t, args...)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl mesh %s: %v", strings.Join(args, " "), err)
	}
	if code != want {
		t.Fatalf("kubectl mesh %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

func getObject(t *testing.T, c *simCluster, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := c.dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading %s %s/%s: %v", gvr.Resource, ns, name, err)
	}
	return obj
}

// field reads a nested field, failing the test when it is missing.
func field(t *testing.T, obj *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	if !found || err != nil {
		t.Fatalf("%s %s: no %s", obj.GetKind(), obj.GetName(), strings.Join(path, "."))
	}
	return v
}

// managers returns, per field manager, the FieldsV1 JSON it holds.
func managers(obj *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for _, mf := range obj.GetManagedFields() {
		if mf.FieldsV1 != nil {
			out[mf.Manager+"/"+string(mf.Operation)] = string(mf.FieldsV1.Raw)
		}
	}
	return out
}

// waitReady waits until the namespace's Deployments have their replicas ready.
func waitReady(t *testing.T, c *simCluster, ns string, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, name := range names {
		for {
			d, err := c.clients.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil && d.Spec.Replicas != nil && d.Status.ReadyReplicas == *d.Spec.Replicas {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("deployment %s/%s not ready", ns, name)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
