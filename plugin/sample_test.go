package plugin

import (
	"strings"
	"testing"
)

func TestSampleDeployDryRunClient(t *testing.T) {
	out, errOut, code := run(t, "", "sample", "deploy", "curl", "httpbin", "fortio", "-n", "demo", "--dry-run=client", "-o", "yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "sample-deploy-dry-run.yaml", out)
	out, _, code = run(t, "", "sample", "deploy", "fortio", "--dry-run")
	if want := "service/fortio serverside-applied (dry run: client)\ndeployment.apps/fortio-deploy serverside-applied (dry run: client)\n"; code != 0 || out != want {
		t.Errorf("sample deploy fortio --dry-run: exit %d\n%s", code, out)
	}
}

func TestSampleUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sample", "deploy"}, "name the samples to deploy: httpbin, fortio, curl"},
		{[]string{"sample", "deploy", "nginx"}, "unknown sample nginx: the samples are httpbin, fortio, curl"},
		{[]string{"sample", "cleanup", "httpbin", "bookinfo"}, "unknown sample bookinfo: the samples are httpbin, fortio, curl"},
		{[]string{"sample", "deploy", "curl", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"sample", "deploy", "curl", "--no-inject", "--revision", "canary"}, "--revision and --no-inject exclude each other"},
		{[]string{"sample", "deploy", "curl", "-o", "table"}, "--output must be yaml or json"},
		{[]string{"sample", "cleanup", "--dry-run=maybe"}, "dry-run"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, code := run(t, "", tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, ExitUsage, tt.want, errOut)
			}
		})
	}
}

const sampleObjects = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: default, labels: {app: httpbin, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: httpbin}}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default, labels: {app: httpbin, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: httpbin}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: httpbin, namespace: default, labels: {app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: httpbin}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: fortio-deploy, namespace: default, labels: {app: fortio, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: fortio}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: default, labels: {app: reviews, app.kubernetes.io/managed-by: kubectl-mesh, app.kubernetes.io/part-of: bookinfo}}
---
apiVersion: v1
kind: Service
metadata: {name: curl, namespace: default, labels: {app: curl, kubectl-mesh.io/sample: curl}}
`

func TestSampleCleanup(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"httpbin"}, "deployment.apps/httpbin deleted\nservice/httpbin deleted\nserviceaccount/httpbin deleted\n"},
		{nil, "deployment.apps/fortio-deploy deleted\ndeployment.apps/httpbin deleted\nservice/httpbin deleted\nserviceaccount/httpbin deleted\n"},
		{[]string{"fortio", "--dry-run"}, "deployment.apps/fortio-deploy deleted (dry run: client)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newFakeCluster(t, sampleObjects)
			out, errOut, code := runOn(t, c, append([]string{"sample", "cleanup"}, tt.args...)...)
			if code != 0 || out != tt.want {
				t.Errorf("exit %d\n%s%s\nwant\n%s", code, out, errOut, tt.want)
			}
			// Bookinfo's objects and the hand-made curl Service stay.
			for _, w := range c.writes() {
				if !strings.HasPrefix(w, "delete ") {
					t.Errorf("unexpected %s", w)
				}
			}
		})
	}
	_, errOut, code := runOn(t, newFakeCluster(t), "sample", "cleanup", "curl")
	if code != 0 || !strings.Contains(errOut, "No sample objects (curl) made by kubectl mesh in namespace default") {
		t.Errorf("nothing to clean: exit %d %s", code, errOut)
	}
}
