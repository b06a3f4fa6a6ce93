package plugin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The tutorial's canary (docs/workflow.md, step 8): two Deployments behind one
// Service and a Gateway for them.
const canaryWorkloads = `
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: default}
spec:
  selector: {apply: canary}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: appv1, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: v1, apply: canary}}
  template:
    metadata: {labels: {app: v1, apply: canary}}
    spec: {containers: [{name: app, image: example/app:v1}]}
status: {replicas: 1, readyReplicas: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: appv2, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: v2, apply: canary}}
  template:
    metadata: {labels: {app: v2, apply: canary}}
    spec: {containers: [{name: app, image: example/app:v2}]}
status: {replicas: 2, readyReplicas: 1}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`

// The objects as `canary set v1=90,v2=10` and one step left them: owned by
// kubectl-mesh, with one history entry.
const canaryAt80 = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: canary
  namespace: default
  resourceVersion: "12"
  annotations:
    kubectl-mesh.io/canary-history: '[{"weights":[{"subset":"v1","weight":90},{"subset":"v2","weight":10}],"subsets":{"v1":{"app":"v1"},"v2":{"app":"v2"}},"at":"2026-11-25T11:00:00Z"}]'
  managedFields:
  - manager: kubectl-mesh
    operation: Apply
    apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata":{"f:annotations":{"f:kubectl-mesh.io/canary-history":{}}},"f:spec":{"f:gateways":{},"f:hosts":{},"f:http":{}}}
spec:
  hosts: ["*"]
  gateways: [canary-gateway]
  http:
  - route:
    - destination: {host: canary.default.svc.cluster.local, subset: v1}
      weight: 80
    - destination: {host: canary.default.svc.cluster.local, subset: v2}
      weight: 20
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: canary
  namespace: default
  resourceVersion: "9"
  managedFields:
  - manager: kubectl-mesh
    operation: Apply
    apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec":{"f:host":{},"f:subsets":{}}}
spec:
  host: canary.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {app: v1}}
  - {name: v2, labels: {app: v2}}
`

func TestCanaryGolden(t *testing.T) {
	tests := []struct {
		golden   string
		existing bool
		args     []string
	}{
		{"canary-set-gateway.yaml", false, []string{"canary", "set", "canary", "v1=90,v2=10", "--subset-label", "app", "--gateway", "canary-gateway", "--hosts", "*", "--dry-run=client", "-o", "yaml"}},
		{"canary-step.yaml", true, []string{"canary", "step", "canary", "--to", "v2", "--by", "10", "--dry-run=client", "-o", "yaml"}},
		{"canary-promote-prune.yaml", true, []string{"canary", "promote", "canary", "--to", "v2", "--prune", "--dry-run=client", "-o", "yaml"}},
		{"canary-rollback.json", true, []string{"canary", "rollback", "canary", "--dry-run=client", "-o", "json"}},
		{"canary-step.text", true, []string{"canary", "step", "canary", "--to", "v2", "--by", "30", "--dry-run=client"}},
		{"canary-status.text", true, []string{"canary", "status", "canary"}},
		{"canary-status.json", true, []string{"canary", "status", "canary", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			manifests := []string{canaryWorkloads}
			if tt.existing {
				manifests = append(manifests, canaryAt80)
			}
			c := newFakeCluster(t, manifests...)
			wantGolden(t, c, tt.golden, false, tt.args...)
		})
	}
}

// Bookinfo's reviews as `canary set reviews v1=90,v2=10 --api gateway` and
// one step left them: the versions' Services and the HTTPRoute.
const reviewsHTTPRouteAt80 = `
apiVersion: v1
kind: Service
metadata: {name: reviews-v1, namespace: bookinfo, labels: {app.kubernetes.io/managed-by: kubectl-mesh}}
spec:
  selector: {app: reviews, version: v1}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v2, namespace: bookinfo, labels: {app.kubernetes.io/managed-by: kubectl-mesh}}
spec:
  selector: {app: reviews, version: v2}
  ports: [{name: http, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
  namespace: bookinfo
  resourceVersion: "7"
  labels: {app.kubernetes.io/managed-by: kubectl-mesh}
  annotations:
    kubectl-mesh.io/canary-history: '[{"weights":[{"subset":"v1","weight":90},{"subset":"v2","weight":10}],"subsets":{"v1":{"version":"v1"},"v2":{"version":"v2"}},"at":"2026-11-25T11:00:00Z"}]'
  managedFields:
  - manager: kubectl-mesh
    operation: Apply
    apiVersion: gateway.networking.k8s.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata":{"f:annotations":{"f:kubectl-mesh.io/canary-history":{}},"f:labels":{"f:app.kubernetes.io/managed-by":{}}},"f:spec":{"f:parentRefs":{},"f:rules":{}}}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - backendRefs:
    - {name: reviews-v1, port: 9080, weight: 80}
    - {name: reviews-v2, port: 9080, weight: 20}
`

func TestCanaryGatewayAPIGolden(t *testing.T) {
	tests := []struct {
		golden   string
		existing bool
		args     []string
	}{
		{"canary-gateway-api-set.yaml", false, []string{"canary", "set", "reviews", "v1=90,v2=10", "-n", "bookinfo", "--api", "gateway", "--dry-run=client", "-o", "yaml"}},
		{"canary-gateway-api-promote-prune.yaml", true, []string{"canary", "promote", "reviews", "--to", "v2", "--prune", "-n", "bookinfo", "--api", "gateway", "--dry-run=client", "-o", "yaml"}},
		{"canary-gateway-api-step.text", true, []string{"canary", "step", "reviews", "--to", "v3", "--by", "20", "-n", "bookinfo", "--api", "gateway", "--dry-run=client"}},
		{"canary-gateway-api-rollback.text", true, []string{"canary", "rollback", "reviews", "-n", "bookinfo", "--api", "gateway", "--dry-run=client"}},
		{"canary-gateway-api-status.text", true, []string{"canary", "status", "reviews", "-n", "bookinfo", "--api", "gateway"}},
		{"canary-gateway-api-status.json", true, []string{"canary", "status", "reviews", "-n", "bookinfo", "--api", "gateway", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			manifests := []string{bookinfoReviews}
			if tt.existing {
				manifests = append(manifests, reviewsHTTPRouteAt80)
			}
			c := newFakeCluster(t, manifests...)
			wantGolden(t, c, tt.golden, false, tt.args...)
		})
	}
}

func TestCanaryGatewayAPIRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"--gateway", []string{"canary", "set", "reviews", "v1=100", "--gateway", "edge"}, ExitUsage,
			"error: --gateway shapes a VirtualService; with --api gateway the split is an HTTPRoute whose parent is the Service\n"},
		{"--virtual-service on status", []string{"canary", "status", "reviews", "--virtual-service", "r"}, ExitUsage, "error: --virtual-service shapes a VirtualService"},
		{"an unknown API", []string{"canary", "step", "reviews", "--to", "v2", "--api", "smi"}, ExitUsage, "error: --api must be istio or gateway, not \"smi\"\n"},
		{"no history", []string{"canary", "rollback", "reviews"}, ExitFailed, "error: no earlier split of the default route of HTTPRoute reviews to roll back to"},
		{"a port the service lacks", []string{"canary", "set", "reviews", "v1=50,v2=50", "--port", "80"}, ExitFailed,
			"error: service reviews has no port 80 (ports: 9080)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCluster(t, bookinfoReviews)
			args := append(tt.args, "-n", "bookinfo")
			if !strings.Contains(strings.Join(args, " "), "--api") {
				args = append(args, "--api", "gateway")
			}
			wantRefused(t, c, tt.code, tt.want, args...)
		})
	}
}

// TestCanaryInfersSubsetLabel: the tutorial's versions differ by app:
// v1/v2, not version; without --subset-label that label is found and named.
func TestCanaryInfersSubsetLabel(t *testing.T) {
	args := []string{"canary", "set", "canary", "v1=90,v2=10", "--gateway", "canary-gateway", "--hosts", "*", "--dry-run=client", "-o", "yaml"}
	c := newFakeCluster(t, canaryWorkloads)
	out, errOut, code := runOn(t, c, args...)
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "new subsets select pods by label app, the one that tells the Deployments of canary apart") {
		t.Errorf("stderr does not name the label:\n%s", errOut)
	}
	golden(t, "canary-set-gateway.yaml", out)

	// Two labels tell the versions apart: the user picks one.
	twoLabels := strings.ReplaceAll(strings.ReplaceAll(canaryWorkloads, "{app: v1, apply: canary}", "{app: v1, track: v1, apply: canary}"), "{app: v2, apply: canary}", "{app: v2, track: v2, apply: canary}")
	c = newFakeCluster(t, twoLabels)
	_, errOut, code = runOn(t, c, args...)
	if code != ExitFailed || !strings.Contains(errOut, "tell v1 and v2 apart by several labels (app, track): name the one subsets select with --subset-label") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	if w := c.writes(); len(w) > 0 {
		t.Errorf("wrote %v", w)
	}
}

func TestCanaryRefusals(t *testing.T) {
	tests := []struct {
		name     string
		existing bool
		args     []string
		code     int
		want     string
	}{
		{"weights add up to 110", false, []string{"canary", "set", "canary", "v1=90,v2=20"}, ExitUsage,
			"error: weights: v1=90,v2=20 add up to 110, not 100\n"},
		{"no Deployment runs v3", true, []string{"canary", "step", "canary", "--to", "v3"}, ExitFailed,
			"error: subset v3 selects version=v3, but no Deployment in namespace default has a pod template with apply=canary,version=v3; deploy that version first, or name the label its pods carry with --subset-label (--force creates the subset anyway, selecting nothing until such pods run)\n"},
		{"the gateway does not exist", false, []string{"canary", "set", "canary", "v1=90,v2=10", "--subset-label", "app", "--gateway", "edge"}, ExitFailed,
			"error: the change breaks Istio traffic config; nothing was applied:\n  Error [MESH0501] VirtualService default/canary spec.gateways[0]: "},
		{"no history", false, []string{"canary", "rollback", "canary"}, ExitFailed,
			"error: no earlier split of the default route of VirtualService canary to roll back to"},
		{"--by out of range", true, []string{"canary", "step", "canary", "--to", "v2", "--by", "0"}, ExitUsage, "--by must be between 1 and 100"},
		{"--to missing", true, []string{"canary", "promote", "canary"}, ExitUsage, "--to is required"},
		{"a FQDN for SERVICE", true, []string{"canary", "status", "canary.default.svc.cluster.local"}, ExitUsage, "SERVICE must be the name of a Service"},
		{"no such service", true, []string{"canary", "set", "web", "v1=100"}, ExitFailed, "error: service web not found in namespace default\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			manifests := []string{canaryWorkloads}
			if tt.existing {
				manifests = append(manifests, canaryAt80)
			}
			c := newFakeCluster(t, manifests...)
			wantRefused(t, c, tt.code, tt.want, tt.args...)
		})
	}
}

// Without a dry run the plan reaches the API server, one apply per step.
func TestCanaryApplies(t *testing.T) {
	c := newFakeCluster(t, canaryWorkloads, canaryAt80)
	out, errOut, code := runOn(t, c, "canary", "step", "canary", "--to", "v2")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "virtualservice/canary: route v1=70,v2=30\ndefault route of canary: v1=70,v2=30 (was v1=80,v2=20)\n"
	if out != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
	if w := c.writes(); len(w) != 1 || w[0] != "patch virtualservices" {
		t.Errorf("writes %v", w)
	}
	out, _, code = runOn(t, c, "canary", "set", "canary", "v1=80,v2=20")
	if code != ExitOK || !strings.Contains(out, "already v1=80,v2=20; nothing to do") {
		t.Errorf("setting the current split: exit %d, %s", code, out)
	}
}

// versionServer answers "v2" to every tenth request and "v1" otherwise
// (or to every third when skewed), in the body and a header.
func versionServer(t *testing.T, every int64) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := "v1"
		if n.Add(1)%every == 0 {
			v = "v2"
		}
		w.Header().Set("X-Version", v)
		fmt.Fprintf(w, "hello from %s\n", v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCanaryVerify(t *testing.T) {
	c := newFakeCluster(t, canaryWorkloads, canaryAt80)
	tests := []struct {
		name  string
		every int64
		args  []string
		code  int
		want  []string
	}{
		{"90/10 by the body, weights given", 10, []string{"--weights", "v1=90,v2=10", "--match", "v1=from v1", "--match", "v2=from v2"}, ExitOK, []string{
			"Sent 100 requests to ", ": 100 told their version, 0 answered 2xx without telling it, 0 failed\n",
			"SUBSET  WEIGHT  EXPECTED  OBSERVED\nv1      90      90.0      90\nv2      10      10.0      10\n",
			"chi-square 0.000, 1 degree(s) of freedom, p-value 1 (chi-square approximation)\n",
			"The observed split is consistent with the weights",
		}},
		// p = 0.0124: a difference, but not significant at 99%.
		{"90/10 against the route's 80/20", 10, []string{"--match-header", "X-Version", "--match", "v1=^v1$", "--match", "v2=^v2$"}, ExitOK, []string{
			"v1      80      80.0      90\nv2      20      20.0      10\n",
			"chi-square 6.250, 1 degree(s) of freedom, p-value 0.01242",
			"consistent with the weights",
		}},
		{"67/33 against the route's 80/20", 3, []string{"--match-header", "X-Version", "--match", "v1=^v1$", "--match", "v2=^v2$", "-n", "300"}, ExitFailed, []string{
			"v1      80      240.0     200\nv2      20      60.0      100\n",
			"The observed split differs from the weights (significant at the 99% level: p < 0.01).\n",
		}},
		{"nothing recognised", 10, []string{"--weights", "v1=90,v2=10"}, ExitFailed, []string{
			"error: none of the 100 answers told its version (0 failed, 100 matched no pattern); check --url and --match\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := versionServer(t, tt.every)
			args := append([]string{"canary", "verify", "canary", "--url", srv.URL}, tt.args...)
			out, errOut, code := runOn(t, c, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
	_, errOut, code := runOn(t, c, "canary", "verify", "canary", "--url", "ftp://x")
	if code != ExitUsage || !strings.Contains(errOut, "--url") {
		t.Errorf("bad URL: exit %d %s", code, errOut)
	}
}

// bookinfo cleanup takes what canary --api gateway made for reviews: the
// HTTPRoute and the versions' Services, not the Services of the app.
func TestBookinfoCleanupGatewayAPICanary(t *testing.T) {
	c := newFakeCluster(t, bookinfoReviews, reviewsHTTPRouteAt80)
	out, errOut, code := runOn(t, c, "bookinfo", "cleanup", "-n", "bookinfo", "--dry-run=client")
	want := "httproute.gateway.networking.k8s.io/reviews deleted (dry run: client)\n" +
		"service/reviews-v1 deleted (dry run: client)\nservice/reviews-v2 deleted (dry run: client)\n"
	if code != ExitOK || out != want {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
}

// verify --api gateway tests against the weights of the HTTPRoute.
func TestCanaryVerifyGatewayAPI(t *testing.T) {
	c := newFakeCluster(t, bookinfoReviews, reviewsHTTPRouteAt80)
	srv := versionServer(t, 10)
	out, errOut, code := runOn(t, c, "canary", "verify", "reviews", "--namespace", "bookinfo", "--api", "gateway", "--url", srv.URL,
		"--match-header", "X-Version", "--match", "v1=^v1$", "--match", "v2=^v2$")
	if want := "v1      80      80.0      90\nv2      20      20.0      10\n"; code != ExitOK || !strings.Contains(out, want) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant it to contain\n%s", code, out, errOut, want)
	}
	_, errOut, code = runOn(t, newFakeCluster(t, bookinfoReviews), "canary", "verify", "reviews", "--namespace", "bookinfo", "--api", "gateway", "--url", srv.URL)
	if want := "error: no HTTPRoute in namespace bookinfo routes to reviews: nothing to verify"; code != ExitFailed || !strings.Contains(errOut, want) {
		t.Errorf("no route: exit %d\n%s", code, errOut)
	}
}
