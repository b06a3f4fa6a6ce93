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
		{[]string{"sample", "deploy"}, "name the samples to deploy: httpbin, fortio, curl, canary, tomcat, nginx\n"},
		{[]string{"sample", "deploy", "nginx-svc"}, "unknown sample nginx-svc: the samples are httpbin, fortio, curl, canary, tomcat, nginx\n"},
		{[]string{"sample", "cleanup", "httpbin", "bookinfo"}, "unknown sample bookinfo: the samples are httpbin, fortio, curl, canary, tomcat, nginx\n"},
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

// The tutorial's samples with what kubectl mesh made for them, next to
// objects made by hand: a ConfigMap and Gateway of its own, and a
// VirtualService for nginx-svc that kubectl apply wrote.
const tutorialObjects = `
apiVersion: v1
kind: ConfigMap
metadata: {name: nginx-conf, namespace: default, labels: {app: nginx, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: nginx}}
---
apiVersion: v1
kind: Service
metadata: {name: nginx-svc, namespace: default, labels: {app: nginx, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: nginx}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: default, labels: {app: nginx, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: nginx}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary-gateway, namespace: default, labels: {app: canary, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: canary}}
spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
---
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: default, labels: {app: canary, app.kubernetes.io/managed-by: kubectl-mesh, kubectl-mesh.io/sample: canary}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary, namespace: default, labels: {app.kubernetes.io/managed-by: kubectl-mesh}}
spec:
  hosts: ["*"]
  gateways: [canary-gateway]
  http: [{route: [{destination: {host: canary.default.svc.cluster.local, subset: v1}, weight: 100}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary, namespace: default, labels: {app.kubernetes.io/managed-by: kubectl-mesh}}
spec: {host: canary.default.svc.cluster.local, subsets: [{name: v1, labels: {app: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx-vs, namespace: default}
spec: {hosts: [nginx-svc], http: [{route: [{destination: {host: nginx-svc}}]}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mine, namespace: default}
spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: mine, namespace: default, labels: {kubectl-mesh.io/sample: nginx}}
`

func TestSampleCleanup(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"httpbin"}, "deployment.apps/httpbin deleted\nservice/httpbin deleted\nserviceaccount/httpbin deleted\n"},
		{nil, "virtualservice.networking.istio.io/canary deleted\ndestinationrule.networking.istio.io/canary deleted\ngateway.networking.istio.io/canary-gateway deleted\n" +
			"deployment.apps/fortio-deploy deleted\ndeployment.apps/httpbin deleted\ndeployment.apps/nginx deleted\n" +
			"service/canary deleted\nservice/httpbin deleted\nservice/nginx-svc deleted\nserviceaccount/httpbin deleted\nconfigmap/nginx-conf deleted\n"},
		{[]string{"fortio", "--dry-run"}, "deployment.apps/fortio-deploy deleted (dry run: client)\n"},
		{[]string{"nginx"}, "deployment.apps/nginx deleted\nservice/nginx-svc deleted\nconfigmap/nginx-conf deleted\n"},
		// The canary's VirtualService (hosts "*", routing to canary) and
		// DestinationRule go with its Service.
		{[]string{"canary", "--dry-run=server"}, "virtualservice.networking.istio.io/canary deleted (dry run: server)\ndestinationrule.networking.istio.io/canary deleted (dry run: server)\n" +
			"gateway.networking.istio.io/canary-gateway deleted (dry run: server)\nservice/canary deleted (dry run: server)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newFakeCluster(t, sampleObjects, tutorialObjects)
			out, errOut, code := runOn(t, c, append([]string{"sample", "cleanup"}, tt.args...)...)
			if code != 0 || out != tt.want {
				t.Errorf("exit %d\n%s%s\nwant\n%s", code, out, errOut, tt.want)
			}
			// Bookinfo's objects and the hand-made ones stay.
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

func TestSampleDeployTutorialDryRun(t *testing.T) {
	out, errOut, code := run(t, "", "sample", "deploy", "nginx", "canary", "tomcat", "--dry-run")
	want := "service/canary serverside-applied (dry run: client)\n" +
		"deployment.apps/appv1 serverside-applied (dry run: client)\n" +
		"deployment.apps/appv2 serverside-applied (dry run: client)\n" +
		"gateway.networking.istio.io/canary-gateway serverside-applied (dry run: client)\n" +
		"service/tomcat-svc serverside-applied (dry run: client)\n" +
		"deployment.apps/tomcat serverside-applied (dry run: client)\n" +
		"configmap/nginx-conf serverside-applied (dry run: client)\n" +
		"service/nginx-svc serverside-applied (dry run: client)\n" +
		"deployment.apps/nginx serverside-applied (dry run: client)\n"
	if code != 0 || out != want {
		t.Errorf("exit %d\n%s%s\nwant\n%s", code, out, errOut, want)
	}
	out, _, _ = run(t, "", "sample", "--help")
	for _, name := range []string{"canary ", "tomcat ", "nginx "} {
		if !strings.Contains(out, "\n  "+name) {
			t.Errorf("sample --help does not list %s:\n%s", name, out)
		}
	}
}
