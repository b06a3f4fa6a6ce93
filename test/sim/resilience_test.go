package sim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// The services of docs/workflow.md, steps 9 to 11, and objects their owners
// applied by hand with kubectl.
const resilienceApp = `
apiVersion: v1
kind: Service
metadata: {name: httpbin}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx-svc}
spec:
  selector: {app: nginx}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: tomcat-svc}
spec:
  selector: {app: tomcat}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx-vs, annotations: {team: web}}
spec:
  hosts: [nginx-svc]
  http:
  - route: [{destination: {host: nginx-svc}}]
`

const httpbinRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  trafficPolicy:
    loadBalancer: {simple: %s}
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - {name: v1, labels: {version: v1}}
`

// TestResilienceMerges runs the workflow's resilience steps through
// `kubectl mesh` and reads back the exact fields, with objects that other
// field managers (kubectl client-side apply, and a server-side applier
// "ops") hold parts of.
func TestResilienceMerges(t *testing.T) {
	c := needSim(t)
	ensureIstioCRDs(t, c)
	ns := newNamespace(t, c, "resilience-")
	kubectlApply(t, c, ns, resilienceApp)
	kubectlApply(t, c, ns, strings.Replace(httpbinRule, "%s", "ROUND_ROBIN", 1))
	// A second owner, server-side: ops holds a field of the outlier
	// detection, which the circuit breaker leaves alone.
	kubectlApply(t, c, ns, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  trafficPolicy:
    outlierDetection: {splitExternalLocalOriginErrors: true}
`, "--server-side", "--field-manager", "ops")

	meshRun(t, c, 0, "resilience", "circuit-breaker", "httpbin", "-n", ns,
		"--max-connections", "1", "--http1-max-pending-requests", "1", "--max-requests-per-connection", "1",
		"--consecutive-gateway-errors", "1", "--interval", "1s", "--base-ejection-time", "3m", "--max-ejection-percent", "100")
	dr := getObject(t, c, destinationRules, ns, "httpbin")
	wantTP := map[string]any{
		"loadBalancer": map[string]any{"simple": "ROUND_ROBIN"},
		"tls":          map[string]any{"mode": "ISTIO_MUTUAL"},
		"connectionPool": map[string]any{
			"tcp":  map[string]any{"maxConnections": int64(1)},
			"http": map[string]any{"http1MaxPendingRequests": int64(1), "maxRequestsPerConnection": int64(1)},
		},
		"outlierDetection": map[string]any{
			"splitExternalLocalOriginErrors": true,
			"consecutiveGatewayErrors":       int64(1), "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": int64(100),
		},
	}
	if got := field(t, dr, "spec", "trafficPolicy"); !reflect.DeepEqual(got, wantTP) {
		t.Errorf("trafficPolicy\n%v\nwant\n%v", got, wantTP)
	}
	if got := field(t, dr, "spec", "subsets"); len(got.([]any)) != 1 {
		t.Errorf("subsets %v", got)
	}
	m := managers(dr)
	mine := m["kubectl-mesh/Apply"]
	for _, f := range []string{`"f:maxConnections"`, `"f:baseEjectionTime"`} {
		if !strings.Contains(mine, f) {
			t.Errorf("kubectl-mesh should own %s: %s", f, mine)
		}
	}
	for _, f := range []string{`"f:tls"`, `"f:subsets"`, `"f:host"`, `"f:splitExternalLocalOriginErrors"`, `"f:loadBalancer"`} {
		if strings.Contains(mine, f) {
			t.Errorf("kubectl-mesh claimed %s: %s", f, mine)
		}
	}
	if !strings.Contains(m["ops/Apply"], "splitExternalLocalOriginErrors") {
		t.Errorf("ops lost its field: %v", m)
	}

	// A second run with one setting keeps the first run's.
	meshRun(t, c, 0, "resilience", "circuit-breaker", "httpbin", "--interval", "2s", "-n", ns)
	dr = getObject(t, c, destinationRules, ns, "httpbin")
	if field(t, dr, "spec", "trafficPolicy", "outlierDetection", "interval") != "2s" || field(t, dr, "spec", "trafficPolicy", "connectionPool", "tcp", "maxConnections") != int64(1) {
		t.Errorf("second run: %v", field(t, dr, "spec", "trafficPolicy"))
	}
	// The owner re-applies its file with a change: the circuit breaker stays.
	kubectlApply(t, c, ns, strings.Replace(httpbinRule, "%s", "LEAST_REQUEST", 1))
	dr = getObject(t, c, destinationRules, ns, "httpbin")
	if field(t, dr, "spec", "trafficPolicy", "loadBalancer", "simple") != "LEAST_REQUEST" || field(t, dr, "spec", "trafficPolicy", "connectionPool", "tcp", "maxConnections") != int64(1) {
		t.Errorf("after kubectl apply: %v", field(t, dr, "spec", "trafficPolicy"))
	}

	// Timeout and retries on nginx-vs, written by kubectl.
	meshRun(t, c, 0, "resilience", "timeout", "nginx-svc", "2s", "-n", ns)
	meshRun(t, c, 0, "resilience", "retry", "nginx-svc", "--attempts", "3", "--per-try-timeout", "2s", "-n", ns)
	vs := getObject(t, c, virtualServices, ns, "nginx-vs")
	route := field(t, vs, "spec", "http").([]any)[0].(map[string]any)
	if route["timeout"] != "2s" || !reflect.DeepEqual(route["retries"], map[string]any{"attempts": int64(3), "perTryTimeout": "2s"}) {
		t.Errorf("nginx-vs route %v", route)
	}
	if vs.GetAnnotations()["team"] != "web" || !reflect.DeepEqual(field(t, vs, "spec", "hosts"), []any{"nginx-svc"}) {
		t.Errorf("nginx-vs lost kubectl's fields: %v", vs.Object["metadata"])
	}

	// Faults on tomcat-svc: a VirtualService is created, the abort joins the delay.
	meshRun(t, c, 0, "resilience", "fault", "tomcat-svc", "--delay", "10s", "-n", ns)
	meshRun(t, c, 0, "resilience", "fault", "tomcat-svc", "--abort", "503", "-n", ns)
	vs = getObject(t, c, virtualServices, ns, "tomcat-svc")
	wantFault := map[string]any{
		"delay": map[string]any{"fixedDelay": "10s", "percentage": map[string]any{"value": int64(100)}},
		"abort": map[string]any{"httpStatus": int64(503), "percentage": map[string]any{"value": int64(100)}},
	}
	route = field(t, vs, "spec", "http").([]any)[0].(map[string]any)
	if !reflect.DeepEqual(route["fault"], wantFault) || !reflect.DeepEqual(field(t, vs, "spec", "hosts"), []any{"tomcat-svc"}) {
		t.Errorf("tomcat-svc VirtualService %v", vs.Object["spec"])
	}

	// Clear: the fault and the circuit breaker go, the rest stays. The
	// VirtualService kubectl mesh created for tomcat-svc held nothing
	// else: it goes too, while nginx-vs, written by kubectl, stays.
	out, _ := meshRun(t, c, 0, "resilience", "clear", "tomcat-svc", "--what", "fault", "-n", ns)
	if out != "virtualservice/tomcat-svc deleted\n" {
		t.Errorf("clear tomcat-svc:\n%s", out)
	}
	if _, err := c.dynamic.Resource(virtualServices).Namespace(ns).Get(context.Background(), "tomcat-svc", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the emptied VirtualService tomcat-svc is still there: %v", err)
	}
	meshRun(t, c, 0, "resilience", "clear", "nginx-svc", "-n", ns)
	route = field(t, getObject(t, c, virtualServices, ns, "nginx-vs"), "spec", "http").([]any)[0].(map[string]any)
	if _, has := route["timeout"]; has || route["route"] == nil {
		t.Errorf("nginx-vs after clear: %v", route)
	}
	meshRun(t, c, 0, "resilience", "clear", "httpbin", "-n", ns)
	dr = getObject(t, c, destinationRules, ns, "httpbin")
	tp := field(t, dr, "spec", "trafficPolicy").(map[string]any)
	if _, has := tp["connectionPool"]; has {
		t.Errorf("connectionPool after clear: %v", tp)
	}
	if _, has := tp["outlierDetection"]; has {
		t.Errorf("outlierDetection after clear (including ops's field, by request): %v", tp)
	}
	if tp["tls"] == nil || tp["loadBalancer"] == nil {
		t.Errorf("clear removed other settings: %v", tp)
	}

	// A refusal applies nothing.
	before := getObject(t, c, virtualServices, ns, "nginx-vs").GetResourceVersion()
	_, errOut := meshRun(t, c, 1, "resilience", "timeout", "nginx", "2s", "-n", ns)
	if !strings.Contains(errOut, "MESH0201") {
		t.Errorf("unknown host: %s", errOut)
	}
	if after := getObject(t, c, virtualServices, ns, "nginx-vs").GetResourceVersion(); after != before {
		t.Errorf("nginx-vs changed: %s -> %s", before, after)
	}
	if _, err := c.dynamic.Resource(virtualServices).Namespace(ns).Get(context.Background(), "nginx", metav1.GetOptions{}); err == nil {
		t.Error("the refused VirtualService nginx exists")
	}
}

// TestLoadInClusterJob runs `kubectl mesh load --in-cluster` against the
// API server. No container runs in the simulated cluster, so Fortio's
// result never comes (reading the pod's log fails, or the wait times out):
// what is tested here is the Job as the API server received it, and that
// it is gone afterwards. Reading a result from a log is unit-tested.
func TestLoadInClusterJob(t *testing.T) {
	c := needSim(t)
	ns := newNamespace(t, c, "load-")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, err := c.clients.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	start := time.Now()
	_, errOut := meshRun(t, c, 1, "load", "http://httpbin:8000/get", "--in-cluster", "--namespace", ns, "-c", "2", "-n", "20", "--qps", "0", "--job-timeout", "30s")
	if !strings.Contains(errOut, "created in namespace "+ns) {
		t.Errorf("stderr:\n%s", errOut)
	}
	t.Logf("in-cluster run ended after %v: %s", time.Since(start).Round(time.Second), strings.TrimSpace(errOut))

	var created *batchv1.Job
	deleted := false
	for !deleted {
		select {
		case ev := <-w.ResultChan():
			job, _ := ev.Object.(*batchv1.Job)
			switch {
			case job == nil:
			case ev.Type == watch.Added:
				created = job
			case ev.Type == watch.Deleted:
				deleted = true
			}
		case <-ctx.Done():
			t.Fatal("the Job was not deleted")
		}
	}
	if created == nil {
		t.Fatal("no Job was created")
	}
	spec := created.Spec.Template.Spec
	if !strings.HasPrefix(created.Name, "mesh-load-") || spec.Containers[0].Image != "fortio/fortio:1.75.3" ||
		strings.Join(spec.Containers[0].Args, " ") != "load -json - -loglevel Warning -c 2 -qps 0 -n 20 -timeout 3s http://httpbin:8000/get" ||
		created.Spec.Template.Labels["sidecar.istio.io/inject"] != "true" || *created.Spec.BackoffLimit != 0 || spec.RestartPolicy != "Never" {
		t.Errorf("Job as created: %+v", created)
	}
	if m := created.ManagedFields; len(m) == 0 || m[0].Manager != "kubectl-mesh" {
		t.Errorf("field manager %v", m)
	}
	jobs, err := c.clients.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 0 {
		t.Errorf("%d Jobs left: %v", len(jobs.Items), err)
	}
}
