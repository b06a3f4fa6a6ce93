package plugin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The services of docs/workflow.md, steps 9 to 11, and nginx-vs as kubectl apply
// left it.
const resilienceWorkloads = `
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx-svc, namespace: default}
spec:
  selector: {app: nginx}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: tomcat-svc, namespace: default}
spec:
  selector: {app: tomcat}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nginx-vs
  namespace: default
  resourceVersion: "30"
  annotations: {owner: web-team}
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata":{"f:annotations":{"f:owner":{}}},"f:spec":{"f:hosts":{},"f:http":{}}}
spec:
  hosts: [nginx-svc]
  http:
  - route:
    - destination: {host: nginx-svc}
`

func TestResilienceGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"resilience-circuit-breaker.yaml", []string{"resilience", "circuit-breaker", "httpbin", "--max-connections", "1", "--http1-max-pending-requests", "1", "--max-requests-per-connection", "1", "--consecutive-gateway-errors", "1", "--interval", "1s", "--base-ejection-time", "3m", "--max-ejection-percent", "100", "--dry-run=client", "-o", "yaml"}},
		{"resilience-timeout.yaml", []string{"resilience", "timeout", "nginx-svc", "2s", "--dry-run=client", "-o", "yaml"}},
		{"resilience-retry.yaml", []string{"resilience", "retry", "nginx-svc", "--attempts", "3", "--per-try-timeout", "2s", "--dry-run=client", "-o", "yaml"}},
		{"resilience-fault-delay.yaml", []string{"resilience", "fault", "tomcat-svc", "--delay", "10s", "--dry-run=client", "-o", "yaml"}},
		{"resilience-fault-abort.json", []string{"resilience", "fault", "tomcat-svc.default.svc.cluster.local", "--abort", "503", "--dry-run=client", "-o", "json"}},
		{"resilience-timeout.text", []string{"resilience", "timeout", "nginx-svc", "2s", "--dry-run=server"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			c := newFakeCluster(t, resilienceWorkloads)
			wantGolden(t, c, tt.golden, tt.args[len(tt.args)-1] == "--dry-run=server", tt.args...)
		})
	}
}

func TestResilienceRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a host that does not resolve", []string{"resilience", "timeout", "nginx", "2s"}, ExitFailed,
			"error: the change breaks Istio traffic config; nothing was applied:\n  Error [MESH0201] VirtualService default/nginx "},
		{"not a duration", []string{"resilience", "timeout", "nginx-svc", "2"}, ExitUsage, `the timeout must be a duration of at least 1ms such as 500ms, 2s or 3m, not "2"`},
		{"too short", []string{"resilience", "fault", "tomcat-svc", "--delay", "10us"}, ExitUsage, "--delay must be a duration of at least 1ms"},
		{"no setting", []string{"resilience", "circuit-breaker", "httpbin"}, ExitUsage, "give at least one setting"},
		{"a circuit breaker for a host that does not resolve", []string{"resilience", "circuit-breaker", "httpbn", "--max-connections", "1"}, ExitFailed,
			"did you mean httpbin.default.svc.cluster.local?"},
		{"negative", []string{"resilience", "circuit-breaker", "httpbin", "--max-connections", "-1"}, ExitUsage, "--max-connections must be a whole number from 0"},
		{"percent", []string{"resilience", "circuit-breaker", "httpbin", "--max-ejection-percent", "101"}, ExitUsage, "--max-ejection-percent must be between 0 and 100"},
		{"abort status", []string{"resilience", "fault", "tomcat-svc", "--abort", "42"}, ExitUsage, "--abort must be an HTTP status from 200 to 599"},
		{"abort percent", []string{"resilience", "fault", "tomcat-svc", "--abort", "503", "--abort-percent", "120"}, ExitUsage, "--abort-percent must be between 0 and 100"},
		{"no fault", []string{"resilience", "fault", "tomcat-svc"}, ExitUsage, "give --delay, --abort or both"},
		{"no retry setting", []string{"resilience", "retry", "tomcat-svc"}, ExitUsage, "give at least one of --attempts"},
		{"clear what", []string{"resilience", "clear", "tomcat-svc", "--what", "timeouts"}, ExitUsage, `--what: "timeouts" is not one of circuit-breaker, timeout, retry, fault`},
		{"verify without url", []string{"resilience", "timeout", "nginx-svc", "2s", "--verify"}, ExitUsage, "--verify needs --url"},
		{"verify in a dry run", []string{"resilience", "timeout", "nginx-svc", "2s", "--verify", "--url", "http://127.0.0.1:1/", "--dry-run=client"}, ExitUsage, "does not go with --dry-run"},
		{"url without verify", []string{"resilience", "timeout", "nginx-svc", "2s", "--url", "http://127.0.0.1:1/"}, ExitUsage, "--url and --in-cluster go with --verify"},
		{"a wildcard host", []string{"resilience", "timeout", "*.example.com", "2s"}, ExitUsage, "HOST must be a Service name or a fully qualified host"},
		{"an unknown route", []string{"resilience", "timeout", "nginx-svc", "2s", "--route", "api"}, ExitFailed, "error: VirtualService nginx-vs has no http route named api\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCluster(t, resilienceWorkloads)
			wantRefused(t, c, tt.code, tt.want, tt.args...)
		})
	}
}

// Clear on objects that hold settings: the route fields go with the whole
// http list, the circuit breaker with a JSON patch.
func TestResilienceClear(t *testing.T) {
	c := newFakeCluster(t, resilienceWorkloads, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nginx-svc, namespace: default, resourceVersion: "8"}
spec:
  host: nginx-svc
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}}
    loadBalancer: {simple: ROUND_ROBIN}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tomcat-vs, namespace: default, resourceVersion: "9"}
spec:
  hosts: [tomcat-svc]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    timeout: 2s
    route: [{destination: {host: tomcat-svc}}]
`)
	out, errOut, code := runOn(t, c, "resilience", "clear", "tomcat-svc", "--what", "fault")
	if code != ExitOK || out != "virtualservice/tomcat-vs: removed fault\n" {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runOn(t, c, "resilience", "clear", "nginx-svc")
	if code != ExitOK || out != "destinationrule/nginx-svc: removed trafficPolicy.connectionPool\n" {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	var verbs []string
	for _, a := range c.dynamic.Actions() {
		if a.GetVerb() == "patch" {
			verbs = append(verbs, a.GetResource().Resource)
		}
	}
	if strings.Join(verbs, ",") != "virtualservices,destinationrules" {
		t.Errorf("patches %v", verbs)
	}
	dr, err := c.dynamic.Resource(inventoryGVR("destinationrules")).Namespace("default").Get(t.Context(), "nginx-svc", metav1GetOptions)
	if err != nil {
		t.Fatal(err)
	}
	if tp := dr.Object["spec"].(map[string]any)["trafficPolicy"]; len(tp.(map[string]any)) != 1 {
		t.Errorf("trafficPolicy after clear: %v", tp)
	}
	_, errOut, code = runOn(t, c, "resilience", "clear", "httpbin")
	if code != ExitOK || !strings.Contains(errOut, "nothing to clear") {
		t.Errorf("clear of nothing: exit %d %s", code, errOut)
	}
}

// What kubectl mesh created and clear empties goes: a line says so, also
// in the dry runs, and with -o on stderr, keeping stdout a document stream.
func TestResilienceClearDeletesWhatItCreated(t *testing.T) {
	const created = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
  namespace: default
  resourceVersion: "11"
  labels: {app.kubernetes.io/managed-by: kubectl-mesh}
  managedFields:
  - {manager: kubectl-mesh, operation: Apply, apiVersion: networking.istio.io/v1, fieldsType: FieldsV1, fieldsV1: {"f:spec":{"f:host":{},"f:trafficPolicy":{}}}}
spec:
  host: httpbin
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tomcat-svc
  namespace: default
  resourceVersion: "12"
  labels: {app.kubernetes.io/managed-by: kubectl-mesh}
  managedFields:
  - {manager: kubectl-mesh, operation: Apply, apiVersion: networking.istio.io/v1, fieldsType: FieldsV1, fieldsV1: {"f:spec":{"f:hosts":{},"f:http":{}}}}
spec:
  hosts: [tomcat-svc]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: tomcat-svc}}]
`
	tests := []struct {
		args        []string
		out, errOut string
		deletes     string
		// virtualServices are left afterwards (nginx-vs and tomcat-svc at
		// first); -1: not counted, the fake client ignores a server dry run.
		virtualServices int
	}{
		{[]string{"tomcat-svc", "--dry-run=client"}, "virtualservice/tomcat-svc deleted (dry run: client)\n", "", "", 2},
		{[]string{"tomcat-svc", "--dry-run=server", "-o", "yaml"}, "", "virtualservice/tomcat-svc deleted (dry run: server)\n", "virtualservices", -1},
		{[]string{"tomcat-svc", "--what", "fault"}, "virtualservice/tomcat-svc deleted\n", "", "virtualservices", 1},
		{[]string{"httpbin", "-o", "json"}, "", "destinationrule/httpbin deleted\n", "destinationrules", 2},
		// nginx-vs, written with kubectl, keeps its route.
		{[]string{"nginx-svc"}, "", "nginx-svc.default.svc.cluster.local: nothing to clear (circuit-breaker, timeout, retry, fault)\n", "", 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newFakeCluster(t, resilienceWorkloads, created)
			out, errOut, code := runOn(t, c, append([]string{"resilience", "clear"}, tt.args...)...)
			if code != ExitOK || out != tt.out || errOut != tt.errOut {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant\n%s\nand\n%s", code, out, errOut, tt.out, tt.errOut)
			}
			var deletes []string
			for _, w := range c.writes() {
				if name, ok := strings.CutPrefix(w, "delete "); ok {
					deletes = append(deletes, name)
				} else {
					t.Errorf("unexpected %s", w)
				}
			}
			if strings.Join(deletes, ",") != tt.deletes {
				t.Errorf("deleted %v, want %s", deletes, tt.deletes)
			}
			list, err := c.dynamic.Resource(inventoryGVR("virtualservices")).Namespace("default").List(t.Context(), metav1.ListOptions{})
			if tt.virtualServices >= 0 && (err != nil || len(list.Items) != tt.virtualServices) {
				t.Errorf("%d VirtualServices left, want %d (%v)", len(list.Items), tt.virtualServices, err)
			}
		})
	}
}

// --verify: the change is applied, then local servers play the mesh.
func TestResilienceVerify(t *testing.T) {
	var n atomic.Int64
	breaker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer breaker.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(120 * time.Millisecond) }))
	defer slow.Close()

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"the breaker opens", []string{"resilience", "circuit-breaker", "httpbin", "--max-connections", "1", "--verify", "--verify-wait", "0", "--url", breaker.URL}, ExitOK,
			[]string{"destinationrule/httpbin: circuit breaker\n", "Code 503 : 4 (20.0 %)", "PASS  circuit breaker: 503 for 4 of 20 (20.0%) calls at -c 2"}},
		{"the breaker never opens", []string{"resilience", "circuit-breaker", "httpbin", "--max-connections", "1", "--verify", "--verify-wait", "0", "--url", plain.URL}, ExitFailed,
			[]string{"FAIL  circuit breaker: no 503 in 20 calls at -c 2", "error: the load did not show 1 of the expected effects"}},
		{"the delay shows", []string{"resilience", "fault", "tomcat-svc", "--delay", "100ms", "--verify", "--verify-wait", "0", "--url", slow.URL, "--requests", "4"}, ExitOK,
			[]string{"PASS  delay: the fastest of 4 calls took 1"}},
		{"retries cannot be seen", []string{"resilience", "retry", "nginx-svc", "--attempts", "3", "--verify", "--verify-wait", "0", "--url", plain.URL}, ExitOK,
			[]string{"Retries do not show from the client"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n.Store(0)
			c := newFakeCluster(t, resilienceWorkloads)
			out, errOut, code := runOn(t, c, tt.args...)
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
}
