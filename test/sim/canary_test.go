package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The tutorial's canary (docs/workflow.md, step 8).
const canaryApp = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: appv1}
spec:
  replicas: 1
  selector: {matchLabels: {app: v1, apply: canary}}
  template:
    metadata: {labels: {app: v1, apply: canary}}
    spec: {containers: [{name: app, image: example.invalid/app:v1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: appv2}
spec:
  replicas: 1
  selector: {matchLabels: {app: v2, apply: canary}}
  template:
    metadata: {labels: {app: v2, apply: canary}}
    spec: {containers: [{name: app, image: example.invalid/app:v2}]}
---
apiVersion: v1
kind: Service
metadata: {name: canary}
spec:
  selector: {apply: canary}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`

// split reads the weights of a VirtualService's default route.
func split(t *testing.T, vs *unstructured.Unstructured) string {
	t.Helper()
	http := field(t, vs, "spec", "http").([]any)
	route := http[len(http)-1].(map[string]any)["route"].([]any)
	var parts []string
	for _, r := range route {
		m := r.(map[string]any)
		dest := m["destination"].(map[string]any)
		parts = append(parts, fmt.Sprintf("%s=%v", dest["subset"], m["weight"]))
	}
	return strings.Join(parts, ",")
}

func historyOf(t *testing.T, vs *unstructured.Unstructured) []string {
	t.Helper()
	raw := vs.GetAnnotations()["kubectl-mesh.io/canary-history"]
	if raw == "" {
		return nil
	}
	var h []struct {
		Weights []struct {
			Subset string
			Weight int
		}
	}
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		t.Fatalf("history annotation: %v\n%s", err, raw)
	}
	var out []string
	for _, e := range h {
		var parts []string
		for _, w := range e.Weights {
			parts = append(parts, fmt.Sprintf("%s=%d", w.Subset, w.Weight))
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out
}

func subsetNames(t *testing.T, dr *unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	for _, s := range field(t, dr, "spec", "subsets").([]any) {
		out = append(out, s.(map[string]any)["name"].(string))
	}
	return out
}

// TestCanaryWorkflow runs the tutorial's canary through `kubectl mesh`
// against the real API server with Istio's CRDs: set 90/10 on a new
// gateway-bound VirtualService, step, promote, roll back through the
// history, refusals that leave everything as it was, status, verify, and
// pruning.
func TestCanaryWorkflow(t *testing.T) {
	c := needSim(t)
	ensureIstioCRDs(t, c)
	ns := newNamespace(t, c, "canary-")
	kubectlApply(t, c, ns, canaryApp)
	waitReady(t, c, ns, "appv1", "appv2")

	meshRun(t, c, 0, "canary", "set", "canary", "v1=90,v2=10", "--subset-label", "app", "--gateway", "canary-gateway", "--hosts", "*", "-n", ns)
	dr := getObject(t, c, destinationRules, ns, "canary")
	vs := getObject(t, c, virtualServices, ns, "canary")
	if host := field(t, dr, "spec", "host"); host != "canary."+ns+".svc.cluster.local" {
		t.Errorf("DestinationRule host %v", host)
	}
	wantSubsets := []any{
		map[string]any{"name": "v1", "labels": map[string]any{"app": "v1"}},
		map[string]any{"name": "v2", "labels": map[string]any{"app": "v2"}},
	}
	if got := field(t, dr, "spec", "subsets"); !reflect.DeepEqual(got, wantSubsets) {
		t.Errorf("subsets %v", got)
	}
	if hosts := field(t, vs, "spec", "hosts"); !reflect.DeepEqual(hosts, []any{"*"}) {
		t.Errorf("hosts %v", hosts)
	}
	if gws := field(t, vs, "spec", "gateways"); !reflect.DeepEqual(gws, []any{"canary-gateway"}) {
		t.Errorf("gateways %v", gws)
	}
	if got := split(t, vs); got != "v1=90,v2=10" {
		t.Errorf("split %s", got)
	}
	if m := managers(vs); m["kubectl-mesh/Apply"] == "" || len(m) != 1 {
		t.Errorf("managers %v", m)
	}

	meshRun(t, c, 0, "canary", "step", "canary", "--to", "v2", "--by", "10", "-n", ns)
	vs = getObject(t, c, virtualServices, ns, "canary")
	if got, h := split(t, vs), historyOf(t, vs); got != "v1=80,v2=20" || !reflect.DeepEqual(h, []string{"v1=90,v2=10"}) {
		t.Errorf("after step: %s, history %v", got, h)
	}
	if hosts := field(t, vs, "spec", "hosts"); !reflect.DeepEqual(hosts, []any{"*"}) {
		t.Errorf("the step lost the hosts kubectl-mesh set: %v", hosts)
	}

	meshRun(t, c, 0, "canary", "promote", "canary", "--to", "v2", "-n", ns)
	vs = getObject(t, c, virtualServices, ns, "canary")
	if got, h := split(t, vs), historyOf(t, vs); got != "v2=100" || len(h) != 2 {
		t.Errorf("after promote: %s, history %v", got, h)
	}
	meshRun(t, c, 0, "canary", "rollback", "canary", "-n", ns)
	if got := split(t, getObject(t, c, virtualServices, ns, "canary")); got != "v1=80,v2=20" {
		t.Errorf("first rollback: %s", got)
	}
	meshRun(t, c, 0, "canary", "rollback", "canary", "-n", ns)
	vs = getObject(t, c, virtualServices, ns, "canary")
	if got, h := split(t, vs), historyOf(t, vs); got != "v1=90,v2=10" || h != nil {
		t.Errorf("second rollback: %s, history %v (the annotation should be gone)", got, h)
	}
	_, errOut := meshRun(t, c, 1, "canary", "rollback", "canary", "-n", ns)
	if !strings.Contains(errOut, "no earlier split") {
		t.Errorf("third rollback: %s", errOut)
	}

	// Refusals change nothing.
	before := []string{getObject(t, c, virtualServices, ns, "canary").GetResourceVersion(), getObject(t, c, destinationRules, ns, "canary").GetResourceVersion()}
	meshRun(t, c, 2, "canary", "set", "canary", "v1=90,v2=20", "-n", ns)
	_, errOut = meshRun(t, c, 1, "canary", "set", "canary", "v1=50,v3=50", "--subset-label", "app", "-n", ns)
	if !strings.Contains(errOut, "no Deployment in namespace "+ns+" has a pod template with app=v3,apply=canary") {
		t.Errorf("workload refusal: %s", errOut)
	}
	_, errOut = meshRun(t, c, 1, "canary", "set", "canary", "v1=50,v3=50", "--subset-label", "app", "--force", "--virtual-service", "edge", "--gateway", "missing", "-n", ns)
	if !strings.Contains(errOut, "Error [MESH0501] VirtualService "+ns+"/edge") {
		t.Errorf("policy refusal: %s", errOut)
	}
	after := []string{getObject(t, c, virtualServices, ns, "canary").GetResourceVersion(), getObject(t, c, destinationRules, ns, "canary").GetResourceVersion()}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("a refused change wrote: resourceVersions %v -> %v", before, after)
	}
	if _, err := c.dynamic.Resource(virtualServices).Namespace(ns).Get(t.Context(), "edge", metav1.GetOptions{}); err == nil {
		t.Error("the refused VirtualService edge exists")
	}

	out, _ := meshRun(t, c, 0, "canary", "status", "canary", "-n", ns, "-o", "json")
	var st struct {
		Subsets []struct {
			Name      string
			Weight    int
			Workloads []struct {
				Name     string
				Ready    int
				Replicas int
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Subsets) != 2 || st.Subsets[0].Weight != 90 || st.Subsets[1].Workloads[0].Name != "appv2" || st.Subsets[1].Workloads[0].Ready != 1 {
		t.Errorf("status %s", out)
	}

	// verify reads the weights from the cluster; a local server plays the
	// gateway, answering v2 to every tenth request, then every other.
	var every atomic.Int64
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := "v1"
		if n.Add(1)%every.Load() == 0 {
			v = "v2"
		}
		fmt.Fprintf(w, "served by %s\n", v)
	}))
	defer srv.Close()
	every.Store(10)
	out, _ = meshRun(t, c, 0, "canary", "verify", "canary", "--namespace", ns, "--url", srv.URL, "-n", "200", "--match", "v1=by v1", "--match", "v2=by v2")
	if !strings.Contains(out, "v1      90      180.0     180\nv2      10      20.0      20\n") {
		t.Errorf("verify 90/10:\n%s", out)
	}
	every.Store(2)
	out, _ = meshRun(t, c, 1, "canary", "verify", "canary", "--namespace", ns, "--url", srv.URL, "-n", "200", "--match", "v1=by v1", "--match", "v2=by v2")
	if !strings.Contains(out, "differs from the weights") {
		t.Errorf("verify 50/50 against 90/10:\n%s", out)
	}

	// Promote with --prune: the route leaves v1, then the rule drops it;
	// a rollback brings it back first.
	meshRun(t, c, 0, "canary", "promote", "canary", "--to", "v2", "--prune", "-n", ns)
	if got := subsetNames(t, getObject(t, c, destinationRules, ns, "canary")); !reflect.DeepEqual(got, []string{"v2"}) {
		t.Errorf("subsets after prune %v", got)
	}
	out, _ = meshRun(t, c, 0, "canary", "rollback", "canary", "-n", ns)
	if !strings.HasPrefix(out, "destinationrule/canary: add subsets v1\nvirtualservice/canary: route v1=90,v2=10\n") {
		t.Errorf("rollback after prune:\n%s", out)
	}
	if got := subsetNames(t, getObject(t, c, destinationRules, ns, "canary")); !reflect.DeepEqual(got, []string{"v2", "v1"}) {
		t.Errorf("subsets after rollback %v", got)
	}
}

// TestCanaryKeepsForeignRoutes changes the default route of a
// VirtualService someone wrote with kubectl apply: the match route, the
// route's other settings and the other manager's fields stay; a subset
// another VirtualService still uses is not pruned (MESH0601, as the
// webhook would deny it).
func TestCanaryKeepsForeignRoutes(t *testing.T) {
	c := needSim(t)
	ensureIstioCRDs(t, c)
	ns := newNamespace(t, c, "canary-routes-")
	kubectlApply(t, c, ns, canaryApp)
	kubectlApply(t, c, ns, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary}
spec:
  host: canary
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets:
  - {name: v1, labels: {app: v1}}
  - {name: v2, labels: {app: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary, annotations: {team: web}}
spec:
  hosts: [canary]
  http:
  - name: testers
    match: [{headers: {x-tester: {exact: "yes"}}}]
    route: [{destination: {host: canary, subset: v2}}]
  - timeout: 3s
    route: [{destination: {host: canary, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary-mirror}
spec:
  hosts: [canary-mirror.example.com]
  gateways: [canary-gateway]
  http:
  - route: [{destination: {host: canary, subset: v1}}]
`)
	waitReady(t, c, ns, "appv1", "appv2")
	meshRun(t, c, 0, "canary", "set", "canary", "v1=70,v2=30", "--virtual-service", "canary", "-n", ns)
	vs := getObject(t, c, virtualServices, ns, "canary")
	http := field(t, vs, "spec", "http").([]any)
	testers := http[0].(map[string]any)
	def := http[1].(map[string]any)
	if testers["name"] != "testers" || testers["match"] == nil || def["timeout"] != "3s" || split(t, vs) != "v1=70,v2=30" {
		t.Errorf("http %v", http)
	}
	if vs.GetAnnotations()["team"] != "web" {
		t.Error("the annotation of kubectl lost")
	}
	if m := managers(vs); !strings.Contains(m["kubectl-mesh/Apply"], `"f:http"`) || strings.Contains(m["kubectl-mesh/Apply"], `"f:hosts"`) {
		t.Errorf("kubectl-mesh should own http and its annotation only: %v", m)
	}
	if lb := field(t, getObject(t, c, destinationRules, ns, "canary"), "spec", "trafficPolicy", "loadBalancer", "simple"); lb != "LEAST_REQUEST" {
		t.Errorf("loadBalancer %v", lb)
	}

	// v1 leaves canary's routes, but canary-mirror still routes to it.
	_, errOut := meshRun(t, c, 1, "canary", "promote", "canary", "--to", "v2", "--prune", "--virtual-service", "canary", "-n", ns)
	if !strings.Contains(errOut, "MESH0601") || !strings.Contains(errOut, "canary-mirror") {
		t.Errorf("prune of a subset still routed to:\n%s", errOut)
	}
	if got := subsetNames(t, getObject(t, c, destinationRules, ns, "canary")); !reflect.DeepEqual(got, []string{"v1", "v2"}) {
		t.Errorf("subsets %v", got)
	}
	if got := split(t, getObject(t, c, virtualServices, ns, "canary")); got != "v1=70,v2=30" {
		t.Errorf("the refused plan applied its route step: %s", got)
	}
}
