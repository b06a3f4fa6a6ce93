package resilience

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
)

func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return u
}

func toYAML(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	b, err := yaml.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func int64p(n int64) *int64 { return &n }

// The workflow's circuit breaker (docs/workflow.md, step 9), on a host without
// a DestinationRule.
func TestCircuitBreakerCreates(t *testing.T) {
	step := SetCircuitBreaker(Target{Namespace: "default", Host: "httpbin"}, &State{}, CircuitBreaker{
		MaxConnections: int64p(1), HTTP1MaxPendingRequests: int64p(1), MaxRequestsPerConnection: int64p(1),
		ConsecutiveGatewayErrors: int64p(1), Interval: "1s", BaseEjectionTime: "3m", MaxEjectionPercent: int64p(100),
	})
	want := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: httpbin
  namespace: default
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
      tcp:
        maxConnections: 1
    outlierDetection:
      baseEjectionTime: 3m
      consecutiveGatewayErrors: 1
      interval: 1s
      maxEjectionPercent: 100
`
	if got := toYAML(t, step.Object); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if step.What != "destinationrule/httpbin: circuit breaker" {
		t.Errorf("What = %q", step.What)
	}
}

// A DestinationRule written with kubectl apply: kubectl-mesh sends only
// its settings, never the fields it does not own, and the result keeps them.
const foreignRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
  namespace: default
  resourceVersion: "4"
  managedFields:
  - manager: kubectl
    operation: Apply
    apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec":{"f:host":{},"f:subsets":{},"f:trafficPolicy":{"f:tls":{"f:mode":{}},"f:connectionPool":{"f:tcp":{"f:connectTimeout":{}}}}}}
  - manager: kubectl-mesh
    operation: Apply
    apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec":{"f:trafficPolicy":{"f:outlierDetection":{"f:interval":{}}}}}
spec:
  host: httpbin.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    connectionPool: {tcp: {connectTimeout: 5s}}
    outlierDetection: {interval: 1s}
`

func TestCircuitBreakerMerges(t *testing.T) {
	live := object(t, foreignRule)
	step := SetCircuitBreaker(Target{Namespace: "default", Host: "httpbin"}, &State{DestinationRule: live}, CircuitBreaker{MaxConnections: int64p(1)})
	want := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
  namespace: default
spec:
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
    outlierDetection:
      interval: 1s
`
	if got := toYAML(t, step.Object); got != want {
		t.Errorf("applied\n%s\nwant (kubectl-mesh's earlier interval kept, nothing of kubectl's)\n%s", got, want)
	}
	tp, _, _ := unstructured.NestedMap(step.Result.Object, "spec", "trafficPolicy")
	wantTP := map[string]any{
		"tls":              map[string]any{"mode": "ISTIO_MUTUAL"},
		"connectionPool":   map[string]any{"tcp": map[string]any{"connectTimeout": "5s", "maxConnections": int64(1)}},
		"outlierDetection": map[string]any{"interval": "1s"},
	}
	if !reflect.DeepEqual(tp, wantTP) {
		t.Errorf("result trafficPolicy\n%v\nwant\n%v", tp, wantTP)
	}
	if subsets, _, _ := unstructured.NestedSlice(step.Result.Object, "spec", "subsets"); len(subsets) != 1 {
		t.Error("the result lost the subsets")
	}
}

const nginxVS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nginx-vs
  namespace: default
  resourceVersion: "21"
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec":{"f:hosts":{},"f:http":{}}}
spec:
  hosts: [nginx-svc]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    route: [{destination: {host: nginx-svc}}]
    retries: {attempts: 5, retryOn: gateway-error}
  - route: [{destination: {host: nginx-svc}}]
    headers: {request: {set: {x-team: web}}}
`

func routes(t *testing.T, obj *unstructured.Unstructured) []map[string]any {
	t.Helper()
	http, _, err := unstructured.NestedSlice(obj.Object, "spec", "http")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(http))
	for i, r := range http {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestRouteChanges(t *testing.T) {
	target := Target{Namespace: "default", Host: "nginx-svc"}
	s := &State{VirtualService: object(t, nginxVS)}

	step, err := ChangeRoutes(target, s, "timeout 2s", Timeout("2s"), false)
	if err != nil {
		t.Fatal(err)
	}
	r := routes(t, step.Object)
	if r[0]["timeout"] != "2s" || r[1]["timeout"] != "2s" || r[0]["match"] == nil || r[1]["headers"] == nil {
		t.Errorf("timeout on every route, the rest kept: %v", r)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(step.Object.Object, "spec", "hosts"); found {
		t.Error("hosts applied without being owned")
	}
	if step.Object.GetResourceVersion() != "21" {
		t.Errorf("the whole-list apply must be conditional on the version read, got %q", step.Object.GetResourceVersion())
	}

	step, err = ChangeRoutes(target, s, "retries", SetRetry(Retry{Attempts: int64p(3), PerTryTimeout: "2s"}), false)
	if err != nil {
		t.Fatal(err)
	}
	r = routes(t, step.Object)
	if want := map[string]any{"attempts": int64(3), "perTryTimeout": "2s", "retryOn": "gateway-error"}; !reflect.DeepEqual(r[0]["retries"], want) {
		t.Errorf("retries merge into the existing policy: %v, want %v", r[0]["retries"], want)
	}
	if want := map[string]any{"attempts": int64(3), "perTryTimeout": "2s"}; !reflect.DeepEqual(r[1]["retries"], want) {
		t.Errorf("retries on the default route: %v", r[1]["retries"])
	}

	// A delay on top of an existing abort keeps the abort.
	live := object(t, nginxVS)
	http, _, _ := unstructured.NestedSlice(live.Object, "spec", "http")
	http[1].(map[string]any)["fault"] = map[string]any{"abort": map[string]any{"httpStatus": int64(503), "percentage": map[string]any{"value": 100.0}}}
	_ = unstructured.SetNestedSlice(live.Object, http, "spec", "http")
	target.Route = ""
	step, err = ChangeRoutes(target, &State{VirtualService: live}, "fault", SetFault(Fault{Delay: "10s", DelayPercent: 100}), false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"delay": map[string]any{"fixedDelay": "10s", "percentage": map[string]any{"value": 100.0}},
		"abort": map[string]any{"httpStatus": int64(503), "percentage": map[string]any{"value": 100.0}},
	}
	if got := routes(t, step.Object)[1]["fault"]; !reflect.DeepEqual(got, want) {
		t.Errorf("fault %v\nwant %v", got, want)
	}

	// --route limits the change to one route.
	target.Route = "api"
	step, _ = ChangeRoutes(target, s, "timeout 1s", Timeout("1s"), false)
	if r := routes(t, step.Object); r[0]["timeout"] != "1s" || r[1]["timeout"] != nil {
		t.Errorf("--route api: %v", r)
	}
	target.Route = "nope"
	if _, err := ChangeRoutes(target, s, "t", Timeout("1s"), false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no http route named nope") {
		t.Errorf("unknown route: %v", err)
	}
}

// Going from the timeout step to the retries step: by default the
// timeout stays and the message says so; --replace drops it.
func TestChangeKeepsOrReplaces(t *testing.T) {
	vs := object(t, nginxVS)
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	for _, r := range http {
		r.(map[string]any)["timeout"] = "2s"
	}
	_ = unstructured.SetNestedSlice(vs.Object, http, "spec", "http")
	s := &State{VirtualService: vs}
	target := Target{Namespace: "default", Host: "nginx-svc"}
	attempts := int64(3)
	retry := SetRetry(Retry{Attempts: &attempts, PerTryTimeout: "2s"})

	step, err := ChangeRoutes(target, s, "retries", retry, false)
	if err != nil {
		t.Fatal(err)
	}
	if step.What != "virtualservice/nginx-vs: retries; timeout 2s kept" {
		t.Errorf("What = %q", step.What)
	}
	for i, r := range routes(t, step.Object) {
		if r["timeout"] != "2s" || r["retries"] == nil {
			t.Errorf("route %d: %v", i, r)
		}
	}

	step, err = ChangeRoutes(target, s, "retries", retry, true)
	if err != nil {
		t.Fatal(err)
	}
	// The api route's earlier retries (attempts 5, retryOn gateway-error)
	// are replaced whole: retryOn goes too.
	if step.What != "virtualservice/nginx-vs: retries; retries.retryOn, timeout 2s removed (--replace)" {
		t.Errorf("What = %q", step.What)
	}
	want := map[string]any{"attempts": int64(3), "perTryTimeout": "2s"}
	for i, r := range routes(t, step.Object) {
		if _, has := r["timeout"]; has || !reflect.DeepEqual(r["retries"], want) {
			t.Errorf("route %d with --replace: %v", i, r)
		}
	}
	// The setting a change makes is not among what it keeps, nor among
	// what --replace removes when it is set again to the same value.
	step, _ = ChangeRoutes(target, s, "timeout 5s", Timeout("5s"), false)
	if !strings.HasPrefix(step.What, "virtualservice/nginx-vs: timeout 5s") || strings.Contains(step.What, "timeout 2s") {
		t.Errorf("What = %q", step.What)
	}
	step, _ = ChangeRoutes(target, s, "timeout 2s", Timeout("2s"), true)
	if step.What != "virtualservice/nginx-vs: timeout 2s; retries removed (--replace)" {
		t.Errorf("What = %q", step.What)
	}
	for i, r := range routes(t, step.Object) {
		if _, has := r["retries"]; r["timeout"] != "2s" || has {
			t.Errorf("route %d with the same timeout and --replace: %v", i, r)
		}
	}
}

// The tutorial's step 11 after step 10: tomcat's fault aborts instead of
// delaying. Without --replace the abort joins the delay; with it the
// delay goes, so that the client sees the 503 and not the delay.
func TestFaultReplacesFault(t *testing.T) {
	target := Target{Namespace: "default", Host: "tomcat-svc"}
	first, err := ChangeRoutes(target, &State{}, "fault delay", SetFault(Fault{Delay: "10s", DelayPercent: 100}), false)
	if err != nil {
		t.Fatal(err)
	}
	live := first.Result.DeepCopy()
	abort := SetFault(Fault{AbortStatus: 503, AbortPercent: 100})
	tests := []struct {
		replace bool
		what    string
		fault   []string
	}{
		{false, "virtualservice/tomcat-svc: fault abort", []string{"abort", "delay"}},
		{true, "virtualservice/tomcat-svc: fault abort; fault.delay removed (--replace)", []string{"abort"}},
	}
	for _, tt := range tests {
		step, err := ChangeRoutes(target, &State{VirtualService: live}, "fault abort", abort, tt.replace)
		if err != nil {
			t.Fatal(err)
		}
		fault, _ := routes(t, step.Object)[0]["fault"].(map[string]any)
		var parts []string
		for k := range fault {
			parts = append(parts, k)
		}
		sort.Strings(parts)
		if step.What != tt.what || !reflect.DeepEqual(parts, tt.fault) {
			t.Errorf("replace %v: What = %q, fault %v; want %q, %v", tt.replace, step.What, fault, tt.what, tt.fault)
		}
	}
}

// A host without a VirtualService gets one: named after the service,
// hosts the short name, one route to it (docs/workflow.md, step 10's tomcat-vs).
func TestVirtualServiceCreated(t *testing.T) {
	step, err := ChangeRoutes(Target{Namespace: "default", Host: "tomcat-svc.default.svc.cluster.local"}, &State{}, "fault", SetFault(Fault{Delay: "10s", DelayPercent: 100}), false)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: tomcat-svc
  namespace: default
spec:
  hosts:
  - tomcat-svc
  http:
  - fault:
      delay:
        fixedDelay: 10s
        percentage:
          value: 100
    route:
    - destination:
        host: tomcat-svc
`
	if got := toYAML(t, step.Object); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// In another namespace the host stays fully qualified.
	step, _ = ChangeRoutes(Target{Namespace: "web", Host: "tomcat-svc.backend.svc.cluster.local"}, &State{}, "t", Timeout("2s"), false)
	if hosts, _, _ := unstructured.NestedStringSlice(step.Object.Object, "spec", "hosts"); !reflect.DeepEqual(hosts, []string{"tomcat-svc.backend.svc.cluster.local"}) {
		t.Errorf("hosts %v", hosts)
	}
	// An external host gets a name made of it.
	step, _ = ChangeRoutes(Target{Namespace: "web", Host: "api.example.com"}, &State{}, "t", Timeout("2s"), false)
	if step.Object.GetName() != "api-example-com" {
		t.Errorf("name %q", step.Object.GetName())
	}
}

func TestClear(t *testing.T) {
	vs := object(t, nginxVS)
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	http[1].(map[string]any)["timeout"] = "2s"
	http[1].(map[string]any)["fault"] = map[string]any{"abort": map[string]any{"httpStatus": int64(503)}}
	_ = unstructured.SetNestedSlice(vs.Object, http, "spec", "http")
	s := &State{VirtualService: vs, DestinationRule: object(t, foreignRule)}
	target := Target{Namespace: "default", Host: "nginx-svc"}

	steps, err := Clear(target, s, AllSettings)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 {
		t.Fatalf("%d steps", len(steps))
	}
	if steps[0].What != "virtualservice/nginx-vs: removed fault, retries, timeout" {
		t.Errorf("What = %q", steps[0].What)
	}
	for i, r := range routes(t, steps[0].Object) {
		for _, f := range []string{"timeout", "retries", "fault"} {
			if _, has := r[f]; has {
				t.Errorf("route %d still has %s", i, f)
			}
		}
	}
	if routes(t, steps[0].Object)[0]["match"] == nil {
		t.Error("clear removed a match")
	}
	wantPatch := `[{"op":"test","path":"/metadata/resourceVersion","value":"4"},{"op":"remove","path":"/spec/trafficPolicy/connectionPool"},{"op":"remove","path":"/spec/trafficPolicy/outlierDetection"}]`
	if string(steps[1].Patch) != wantPatch {
		t.Errorf("patch %s\nwant %s", steps[1].Patch, wantPatch)
	}
	if tp, _, _ := unstructured.NestedMap(steps[1].Result.Object, "spec", "trafficPolicy"); !reflect.DeepEqual(tp, map[string]any{"tls": map[string]any{"mode": "ISTIO_MUTUAL"}}) {
		t.Errorf("result trafficPolicy %v", tp)
	}

	// Nothing else in the trafficPolicy: it goes too, instead of staying as {}.
	bare := object(t, foreignRule)
	unstructured.RemoveNestedField(bare.Object, "spec", "trafficPolicy", "tls")
	steps, _ = Clear(target, &State{DestinationRule: bare}, []string{WhatCircuitBreaker})
	if len(steps) != 1 || string(steps[0].Patch) != `[{"op":"test","path":"/metadata/resourceVersion","value":"4"},{"op":"remove","path":"/spec/trafficPolicy"}]` {
		t.Fatalf("clear of a circuit breaker alone: %v", steps)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(steps[0].Result.Object, "spec", "trafficPolicy"); found {
		t.Error("the result keeps a trafficPolicy")
	}

	// Only what is asked, and nothing when nothing is there.
	steps, _ = Clear(target, s, []string{WhatTimeout})
	if len(steps) != 1 || steps[0].What != "virtualservice/nginx-vs: removed timeout" {
		t.Errorf("clear timeout: %v", steps)
	}
	steps, _ = Clear(target, &State{}, AllSettings)
	if len(steps) != 0 {
		t.Errorf("clear of nothing: %d steps", len(steps))
	}
}

// Owned is what makes a second run keep the first run's settings.
func TestSecondRunKeepsFirst(t *testing.T) {
	target := Target{Namespace: "default", Host: "httpbin"}
	first := SetCircuitBreaker(target, &State{}, CircuitBreaker{MaxConnections: int64p(1)})
	live := first.Result.DeepCopy()
	live.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: apply.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:host":{},"f:trafficPolicy":{"f:connectionPool":{"f:tcp":{"f:maxConnections":{}}}}}}`)}}})
	second := SetCircuitBreaker(target, &State{DestinationRule: live}, CircuitBreaker{Interval: "1s"})
	if v, _, _ := unstructured.NestedInt64(second.Object.Object, "spec", "trafficPolicy", "connectionPool", "tcp", "maxConnections"); v != 1 {
		t.Errorf("the second apply dropped the first's maxConnections:\n%s", toYAML(t, second.Object))
	}
	if h, _, _ := unstructured.NestedString(second.Object.Object, "spec", "host"); h != "httpbin" {
		t.Errorf("the second apply dropped the host it owns")
	}
}

// What kubectl mesh created for a host and clear empties is deleted; an
// object with anything else in it, or made or touched by anyone else, is
// updated as before.
func TestClearDeletesWhatItCreated(t *testing.T) {
	const createdRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
  namespace: default
  resourceVersion: "7"
  labels: {app.kubernetes.io/managed-by: kubectl-mesh}
  managedFields:
  - {manager: kubectl-mesh, operation: Apply, apiVersion: networking.istio.io/v1, fieldsType: FieldsV1, fieldsV1: {"f:spec":{"f:host":{}}}}
spec:
  host: httpbin
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}}
    outlierDetection: {interval: 1s}
`
	const createdVS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nginx-svc
  namespace: default
  resourceVersion: "9"
  labels: {app.kubernetes.io/managed-by: kubectl-mesh}
  managedFields:
  - {manager: kubectl-mesh, operation: Apply, apiVersion: networking.istio.io/v1, fieldsType: FieldsV1, fieldsV1: {"f:spec":{"f:hosts":{},"f:http":{}}}}
  - {manager: pilot-discovery, operation: Update, subresource: status, apiVersion: networking.istio.io/v1, fieldsType: FieldsV1, fieldsV1: {"f:status":{}}}
spec:
  hosts: [nginx-svc]
  http:
  - timeout: 2s
    retries: {attempts: 3, perTryTimeout: 2s}
    route: [{destination: {host: nginx-svc}}]
`
	edit := func(manifest string, change func(u *unstructured.Unstructured)) *unstructured.Unstructured {
		u := object(t, manifest)
		if change != nil {
			change(u)
		}
		return u
	}
	set := func(value any, path ...string) func(u *unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, value, path...) }
	}
	tests := []struct {
		name   string
		host   string
		state  State
		what   []string
		want   string // the step's What
		delete bool
	}{
		{"the circuit breaker's rule", "httpbin", State{DestinationRule: edit(createdRule, nil)}, AllSettings,
			"destinationrule/httpbin deleted", true},
		{"the timeout's VirtualService", "nginx-svc", State{VirtualService: edit(createdVS, nil)}, AllSettings,
			"virtualservice/nginx-svc deleted", true},
		{"a named route is still the plain route", "nginx-svc.default.svc.cluster.local", State{VirtualService: edit(createdVS, func(u *unstructured.Unstructured) {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			http[0].(map[string]any)["name"] = "default"
			_ = unstructured.SetNestedSlice(u.Object, http, "spec", "http")
		})}, AllSettings, "virtualservice/nginx-svc deleted", true},
		{"a VirtualService left empty before", "nginx-svc", State{VirtualService: edit(createdVS, func(u *unstructured.Unstructured) {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			delete(http[0].(map[string]any), "timeout")
			delete(http[0].(map[string]any), "retries")
			_ = unstructured.SetNestedSlice(u.Object, http, "spec", "http")
		})}, []string{WhatFault}, "virtualservice/nginx-svc deleted", true},
		{"a DestinationRule left empty before", "httpbin", State{DestinationRule: edit(createdRule, func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "trafficPolicy")
		})}, AllSettings, "destinationrule/httpbin deleted", true},
		{"retries left", "nginx-svc", State{VirtualService: edit(createdVS, nil)}, []string{WhatTimeout},
			"virtualservice/nginx-svc: removed timeout", false},
		{"made by hand", "httpbin", State{DestinationRule: edit(createdRule, func(u *unstructured.Unstructured) { u.SetLabels(nil) })}, AllSettings,
			"destinationrule/httpbin: removed trafficPolicy.connectionPool, trafficPolicy.outlierDetection", false},
		{"another manager's field", "httpbin", State{DestinationRule: edit(createdRule, func(u *unstructured.Unstructured) {
			u.SetManagedFields(append(u.GetManagedFields(), metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate}))
		})}, AllSettings, "destinationrule/httpbin: removed trafficPolicy.connectionPool, trafficPolicy.outlierDetection", false},
		{"an annotation", "httpbin", State{DestinationRule: edit(createdRule, func(u *unstructured.Unstructured) { u.SetAnnotations(map[string]string{"team": "web"}) })}, AllSettings,
			"destinationrule/httpbin: removed trafficPolicy.connectionPool, trafficPolicy.outlierDetection", false},
		{"subsets", "httpbin", State{DestinationRule: edit(createdRule, set([]any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}}, "spec", "subsets"))}, AllSettings,
			"destinationrule/httpbin: removed trafficPolicy.connectionPool, trafficPolicy.outlierDetection", false},
		{"a load balancer", "httpbin", State{DestinationRule: edit(createdRule, set("ROUND_ROBIN", "spec", "trafficPolicy", "loadBalancer", "simple"))}, AllSettings,
			"destinationrule/httpbin: removed trafficPolicy.connectionPool, trafficPolicy.outlierDetection", false},
		{"a gateway", "nginx-svc", State{VirtualService: edit(createdVS, set([]any{"mesh", "edge"}, "spec", "gateways"))}, AllSettings,
			"virtualservice/nginx-svc: removed retries, timeout", false},
		{"a second host", "nginx-svc", State{VirtualService: edit(createdVS, set([]any{"nginx-svc", "nginx.example.com"}, "spec", "hosts"))}, AllSettings,
			"virtualservice/nginx-svc: removed retries, timeout", false},
		{"a subset", "nginx-svc", State{VirtualService: edit(createdVS, func(u *unstructured.Unstructured) {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			http[0].(map[string]any)["route"] = []any{map[string]any{"destination": map[string]any{"host": "nginx-svc", "subset": "v1"}}}
			_ = unstructured.SetNestedSlice(u.Object, http, "spec", "http")
		})}, AllSettings, "virtualservice/nginx-svc: removed retries, timeout", false},
		{"a header rule", "nginx-svc", State{VirtualService: edit(createdVS, func(u *unstructured.Unstructured) {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			http[0].(map[string]any)["headers"] = map[string]any{"request": map[string]any{"set": map[string]any{"x-team": "web"}}}
			_ = unstructured.SetNestedSlice(u.Object, http, "spec", "http")
		})}, AllSettings, "virtualservice/nginx-svc: removed retries, timeout", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := Clear(Target{Namespace: "default", Host: tt.host}, &tt.state, tt.what)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != 1 || steps[0].What != tt.want || steps[0].Delete != tt.delete {
				t.Fatalf("steps %+v, want one with What %q, Delete %v", steps, tt.want, tt.delete)
			}
			if !tt.delete {
				return
			}
			// The deletion is conditional on the version read, and names
			// nothing but the object.
			want := map[string]any{"apiVersion": "networking.istio.io/v1", "kind": steps[0].Object.GetKind(),
				"metadata": map[string]any{"name": steps[0].Object.GetName(), "namespace": "default", "resourceVersion": steps[0].Object.GetResourceVersion()}}
			if !reflect.DeepEqual(steps[0].Object.Object, want) || steps[0].Object.GetResourceVersion() == "" || steps[0].Result != nil || steps[0].Patch != nil {
				t.Errorf("deletion step %+v", steps[0])
			}
		})
	}
}
