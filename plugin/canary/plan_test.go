package canary

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// object decodes a YAML manifest.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatal(err)
	}
	// Numbers as the API server's JSON decoding gives them.
	b, _ := json.Marshal(m)
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return u
}

// fieldsOf is the FieldsV1 set of everything in an applied object: what
// the API server records as the applier's.
func fieldsOf(obj map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range obj {
		if k == "apiVersion" || k == "kind" {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			out["f:"+k] = fieldsOf(m)
			continue
		}
		out["f:"+k] = map[string]any{}
	}
	return out
}

// applied plays the plan's steps into the state as the API server would,
// recording kubectl-mesh as the owner of what it applied.
func applied(t *testing.T, s *State, p *Plan) {
	t.Helper()
	for i, step := range p.Steps {
		obj := step.Result.DeepCopy()
		obj.SetResourceVersion(strings.Repeat("1", i+2)) // a new version per write
		fields := fieldsOf(step.Object.Object)
		if md, ok := fields["f:metadata"].(map[string]any); ok {
			delete(md, "f:name")
			delete(md, "f:namespace")
			delete(md, "f:resourceVersion")
		}
		raw, _ := json.Marshal(fields)
		obj.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: apply.FieldManager, Operation: metav1.ManagedFieldsOperationApply, FieldsV1: &metav1.FieldsV1{Raw: raw}}})
		switch obj.GetKind() {
		case "VirtualService":
			s.VirtualService = obj
		case "DestinationRule":
			s.DestinationRule = obj
		case "HTTPRoute":
			s.HTTPRoute = obj
		case "Service":
			svc := &corev1.Service{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, svc); err != nil {
				t.Fatal(err)
			}
			if s.Backends == nil {
				s.Backends = map[string]*corev1.Service{}
			}
			s.Backends[svc.Name[strings.LastIndex(svc.Name, "-")+1:]] = svc
		}
	}
}

func tutorialState() *State {
	return &State{
		ServiceFound: true,
		Selector:     map[string]string{"apply": "canary"},
		Workloads: []Workload{
			{Kind: "Deployment", Name: "appv1", Labels: map[string]string{"app": "v1", "apply": "canary"}, Ready: 1, Replicas: 1},
			{Kind: "Deployment", Name: "appv2", Labels: map[string]string{"app": "v2", "apply": "canary"}, Ready: 1, Replicas: 1},
		},
	}
}

func tutorialTarget() Target {
	return Target{Namespace: "default", Service: "canary", SubsetLabel: "app", Gateway: "canary-gateway", Hosts: []string{"*"}}
}

func compute(t *testing.T, target Target, s *State, c Change) *Plan {
	t.Helper()
	if c.Now.IsZero() {
		c.Now = testNow
	}
	p, err := Compute(target, s, c)
	if err != nil {
		t.Fatalf("%s: %v", c.Op, err)
	}
	return p
}

func toYAML(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	b, err := yaml.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func whats(p *Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.What)
	}
	return out
}

// The tutorial's canary, from nothing to all on v2 and back: every object
// and every history entry.
func TestTutorialCanary(t *testing.T) {
	s, target := tutorialState(), tutorialTarget()

	p := compute(t, target, s, Change{Op: "set", Weights: mustWeights(t, "v1=90,v2=10")})
	if got, want := whats(p), []string{
		"destinationrule/canary: add subsets v1, v2",
		"virtualservice/canary: route v1=90,v2=10",
	}; !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %q, want %q", got, want)
	}
	wantDR := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: canary
  namespace: default
spec:
  host: canary.default.svc.cluster.local
  subsets:
  - labels:
      app: v1
    name: v1
  - labels:
      app: v2
    name: v2
`
	if got := toYAML(t, p.Steps[0].Object); got != wantDR {
		t.Errorf("DestinationRule:\n%s\nwant\n%s", got, wantDR)
	}
	wantVS := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: canary
  namespace: default
spec:
  gateways:
  - canary-gateway
  hosts:
  - '*'
  http:
  - route:
    - destination:
        host: canary.default.svc.cluster.local
        subset: v1
      weight: 90
    - destination:
        host: canary.default.svc.cluster.local
        subset: v2
      weight: 10
`
	if got := toYAML(t, p.Steps[1].Object); got != wantVS {
		t.Errorf("VirtualService:\n%s\nwant\n%s", got, wantVS)
	}
	applied(t, s, p)

	// Steps of 10 touch the route only and remember the split they replace.
	p = compute(t, target, s, Change{Op: "step", To: "v2", By: 10})
	if got := whats(p); len(got) != 1 || got[0] != "virtualservice/canary: route v1=80,v2=20" {
		t.Fatalf("step: %q", got)
	}
	vs := p.Steps[0].Object
	if vs.GetResourceVersion() != "111" {
		t.Errorf("the apply is not conditional on the version read: resourceVersion %q", vs.GetResourceVersion())
	}
	if hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts"); !reflect.DeepEqual(hosts, []string{"*"}) {
		t.Errorf("kubectl-mesh's earlier fields must be re-applied or server-side apply drops them: hosts %v", hosts)
	}
	wantHistory := `[{"weights":[{"subset":"v1","weight":90},{"subset":"v2","weight":10}],"subsets":{"v1":{"app":"v1"},"v2":{"app":"v2"}},"at":"2026-11-25T12:00:00Z"}]`
	if got := vs.GetAnnotations()[HistoryAnnotation]; got != wantHistory {
		t.Errorf("history %s\nwant %s", got, wantHistory)
	}
	applied(t, s, p)

	p = compute(t, target, s, Change{Op: "promote", To: "v2"})
	route, _, _ := unstructured.NestedSlice(p.Steps[0].Object.Object, "spec", "http")
	wantRoute := []any{map[string]any{"route": []any{map[string]any{
		"destination": map[string]any{"host": "canary.default.svc.cluster.local", "subset": "v2"}, "weight": int64(100),
	}}}}
	if !reflect.DeepEqual(route, wantRoute) {
		t.Errorf("promote route %v", route)
	}
	applied(t, s, p)
	st, err := StatusOf(target, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 2 || st.History[1].Weights.String() != "v1=80,v2=20" {
		t.Errorf("history after promote: %+v", st.History)
	}

	for _, want := range []string{"v1=80,v2=20", "v1=90,v2=10"} {
		p = compute(t, target, s, Change{Op: "rollback"})
		if p.To.String() != want || len(p.Steps) != 1 {
			t.Fatalf("rollback to %s, want %s (%q)", p.To, want, whats(p))
		}
		applied(t, s, p)
	}
	if _, ok := s.VirtualService.GetAnnotations()[HistoryAnnotation]; ok {
		t.Error("an empty history should leave no annotation")
	}
	_, err = Compute(target, s, Change{Op: "rollback"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no earlier split of the default route of VirtualService canary") {
		t.Errorf("rollback with no history: %v", err)
	}
	st, _ = StatusOf(target, s)
	if st.Weights().String() != "v1=90,v2=10" || len(st.Subsets) != 2 || st.Subsets[1].Workloads[0].Name != "appv2" {
		t.Errorf("status: %+v", st)
	}
}

const bookinfoReviews = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo, resourceVersion: "7"}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - timeout: 3s
    retries: {attempts: 2}
    route:
    - destination: {host: reviews, subset: v1, port: {number: 9080}}
      headers:
        request:
          set: {x-canary: stable}
`

const bookinfoRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo, resourceVersion: "5"}
spec:
  host: reviews
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`

func bookinfoState(t *testing.T) *State {
	s := &State{ServiceFound: true, Selector: map[string]string{"app": "reviews"}}
	for _, v := range []string{"v1", "v2", "v3"} {
		s.Workloads = append(s.Workloads, Workload{Kind: "Deployment", Name: "reviews-" + v, Labels: map[string]string{"app": "reviews", "version": v}, Ready: 1, Replicas: 1})
	}
	s.VirtualService = object(t, bookinfoReviews)
	s.DestinationRule = object(t, bookinfoRule)
	return s
}

func bookinfoTarget() Target { return Target{Namespace: "bookinfo", Service: "reviews"} }

func httpRoutes(t *testing.T, obj *unstructured.Unstructured) []any {
	t.Helper()
	http, found, err := unstructured.NestedSlice(obj.Object, "spec", "http")
	if !found || err != nil {
		t.Fatalf("no spec.http: %v", err)
	}
	return http
}

// Only the default route changes: match rules, the other route and the
// default route's own settings stay as they were.
func TestMatchRulesPreserved(t *testing.T) {
	s := bookinfoState(t)
	before := httpRoutes(t, s.VirtualService)
	p := compute(t, bookinfoTarget(), s, Change{Op: "set", Weights: mustWeights(t, "v1=50,v3=50")})
	if got := whats(p); len(got) != 1 || got[0] != "virtualservice/reviews: route v1=50,v3=50" {
		t.Fatalf("steps %q (v3 exists: no DestinationRule step)", got)
	}
	after := httpRoutes(t, p.Steps[0].Object)
	if !reflect.DeepEqual(after[0], before[0]) {
		t.Errorf("the jason route changed:\n%v\n%v", before[0], after[0])
	}
	def := after[1].(map[string]any)
	if def["timeout"] != "3s" || !reflect.DeepEqual(def["retries"], map[string]any{"attempts": int64(2)}) {
		t.Errorf("the default route lost its settings: %v", def)
	}
	want := []any{
		map[string]any{
			"destination": map[string]any{"host": "reviews", "subset": "v1", "port": map[string]any{"number": int64(9080)}},
			"headers":     map[string]any{"request": map[string]any{"set": map[string]any{"x-canary": "stable"}}},
			"weight":      int64(50),
		},
		map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v3", "port": map[string]any{"number": int64(9080)}}, "weight": int64(50)},
	}
	if !reflect.DeepEqual(def["route"], want) {
		t.Errorf("default route\n%v\nwant\n%v", def["route"], want)
	}
	// The VirtualService was written by someone else: kubectl-mesh applies
	// http and its annotation, nothing it does not own.
	if _, found, _ := unstructured.NestedFieldNoCopy(p.Steps[0].Object.Object, "spec", "hosts"); found {
		t.Error("hosts applied without being owned")
	}
	if rv := p.Steps[0].Object.GetResourceVersion(); rv != "7" {
		t.Errorf("resourceVersion precondition %q, want 7", rv)
	}

	// --route names another route: the default route stays.
	target := bookinfoTarget()
	target.Route = "jason"
	p = compute(t, target, s, Change{Op: "set", Weights: mustWeights(t, "v2=50,v3=50")})
	after = httpRoutes(t, p.Steps[0].Object)
	if !reflect.DeepEqual(after[1], before[1]) {
		t.Errorf("--route jason changed the default route")
	}
	if jason := after[0].(map[string]any); len(jason["route"].([]any)) != 2 || jason["match"] == nil {
		t.Errorf("jason route: %v", jason)
	}
	h, _ := ParseHistory(p.Steps[0].Object.GetAnnotations()[HistoryAnnotation])
	if len(h) != 1 || h[0].Route != "jason" || h[0].Weights.String() != "v2=100" {
		t.Errorf("history of --route: %+v", h)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		target func(Target) Target
		state  func(*State)
		change Change
		want   string
	}{
		{"a subset no Deployment runs", nil, func(s *State) { s.Workloads = s.Workloads[:2] },
			Change{Op: "set", Weights: Weights{{"v1", 90}, {"v3", 10}}},
			"subset v3 selects version=v3, but no Deployment in namespace bookinfo has a pod template with app=reviews,version=v3; deploy that version first, or name the label its pods carry with --subset-label (--force creates the subset anyway"},
		{"a new subset no Deployment runs", nil, nil,
			Change{Op: "step", To: "v4", By: 10},
			"subset v4 selects version=v4, but no Deployment"},
		{"the Service is missing", nil, func(s *State) { s.ServiceFound = false },
			Change{Op: "set", Weights: Weights{{"v1", 100}}}, "service reviews not found in namespace bookinfo"},
		{"no such route", func(t Target) Target { t.Route = "mary"; return t }, nil,
			Change{Op: "set", Weights: Weights{{"v1", 100}}}, "VirtualService reviews: no http route named mary (named routes: jason)"},
		{"no default route", nil, func(s *State) {
			http, _, _ := unstructured.NestedSlice(s.VirtualService.Object, "spec", "http")
			_ = unstructured.SetNestedSlice(s.VirtualService.Object, http[:1], "spec", "http")
		}, Change{Op: "set", Weights: Weights{{"v1", 100}}}, "no default route (an http route without match); name the route to change with --route"},
		{"a route to two services", nil, func(s *State) {
			http, _, _ := unstructured.NestedSlice(s.VirtualService.Object, "spec", "http")
			def := http[1].(map[string]any)
			def["route"] = append(def["route"].([]any), map[string]any{"destination": map[string]any{"host": "ratings"}, "weight": int64(0)})
			_ = unstructured.SetNestedSlice(s.VirtualService.Object, http, "spec", "http")
		}, Change{Op: "set", Weights: Weights{{"v1", 100}}}, "also routes to ratings (route[1]); canary shifts traffic between the subsets of reviews.bookinfo.svc.cluster.local only"},
		{"another gateway", func(t Target) Target { t.Gateway = "bookinfo-gateway"; return t }, nil,
			Change{Op: "set", Weights: Weights{{"v1", 100}}}, "VirtualService reviews exists and is not bound to gateway bookinfo-gateway"},
		{"a step from the whole service", nil, func(s *State) {
			_ = unstructured.SetNestedSlice(s.VirtualService.Object, []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}}}}}, "spec", "http")
		}, Change{Op: "step", To: "v2", By: 10}, "routes to the whole service, not to subsets: start with kubectl mesh canary set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, target := bookinfoState(t), bookinfoTarget()
			if tt.state != nil {
				tt.state(s)
			}
			if tt.target != nil {
				target = tt.target(target)
			}
			tt.change.Now = testNow
			_, err := Compute(target, s, tt.change)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant a refusal containing %q", err, tt.want)
			}
		})
	}
}

func TestForceSkipsTheWorkloadCheck(t *testing.T) {
	s := bookinfoState(t)
	s.Workloads = nil
	p := compute(t, bookinfoTarget(), s, Change{Op: "set", Weights: Weights{{"v1", 90}, {"v4", 10}}, Force: true})
	if got := whats(p); len(got) != 2 || got[0] != "destinationrule/reviews: add subsets v4" {
		t.Errorf("steps %q", got)
	}
	subsets, _, _ := unstructured.NestedSlice(p.Steps[0].Object.Object, "spec", "subsets")
	if last := subsets[len(subsets)-1]; !reflect.DeepEqual(last, map[string]any{"name": "v4", "labels": map[string]any{"version": "v4"}}) {
		t.Errorf("new subset %v", last)
	}
	if tp, found, _ := unstructured.NestedFieldNoCopy(p.Steps[0].Object.Object, "spec", "trafficPolicy"); found {
		t.Errorf("applied a trafficPolicy kubectl-mesh does not own: %v", tp)
	}
	if tls, _, _ := unstructured.NestedString(p.Steps[0].Result.Object, "spec", "trafficPolicy", "tls", "mode"); tls != "ISTIO_MUTUAL" {
		t.Error("the checked result lost the rule's other fields")
	}
}

// Make-before-break: new subsets before the route, pruned ones after.
func TestPruneOrder(t *testing.T) {
	s := bookinfoState(t)
	p := compute(t, bookinfoTarget(), s, Change{Op: "set", Weights: Weights{{"v4", 100}}, Prune: true, Force: true})
	want := []string{
		"destinationrule/reviews: add subsets v4",
		"virtualservice/reviews: route v4=100",
		"destinationrule/reviews: prune subsets v1, v3",
	}
	if got := whats(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %q\nwant %q", got, want)
	}
	if !reflect.DeepEqual(p.Kept, []string{"v2"}) {
		t.Errorf("v2 is still routed to by the jason route and must stay: kept %v, pruned %v", p.Kept, p.Pruned)
	}
	names := func(obj *unstructured.Unstructured) []string {
		subsets, _, _ := unstructured.NestedSlice(obj.Object, "spec", "subsets")
		var out []string
		for _, s := range subsets {
			out = append(out, s.(map[string]any)["name"].(string))
		}
		return out
	}
	if got := names(p.Steps[0].Object); !reflect.DeepEqual(got, []string{"v1", "v2", "v3", "v4"}) {
		t.Errorf("first step subsets %v", got)
	}
	if got := names(p.Steps[2].Object); !reflect.DeepEqual(got, []string{"v2", "v4"}) {
		t.Errorf("last step subsets %v", got)
	}
	stages := apply.Stages(p.Steps)
	if len(stages) != 3 || len(stages[0].Objects) != 1 || len(stages[1].Objects) != 2 || len(stages[2].Objects) != 2 {
		t.Fatalf("stages %d", len(stages))
	}
	// Each stage checks the rule as it stands then: all four subsets while
	// the route moves, two once it has moved.
	if got := names(stages[1].Objects[0]); len(got) != 4 {
		t.Errorf("stage 2 rule %v", got)
	}
	if got := names(stages[2].Objects[0]); len(got) != 2 || stages[2].Objects[1].GetKind() != "VirtualService" {
		t.Errorf("stage 3 rule %v", got)
	}

	// Rolling back brings the pruned subset back, with its labels, before
	// the route returns to it.
	applied(t, s, p)
	p = compute(t, bookinfoTarget(), s, Change{Op: "rollback"})
	if got := whats(p); !reflect.DeepEqual(got, []string{"destinationrule/reviews: add subsets v1", "virtualservice/reviews: route v1=100"}) {
		t.Errorf("rollback steps %q", got)
	}
}

func TestUnchanged(t *testing.T) {
	s := bookinfoState(t)
	p := compute(t, bookinfoTarget(), s, Change{Op: "set", Weights: Weights{{"v1", 100}, {"v2", 0}}})
	if !p.Unchanged || len(p.Steps) != 0 {
		t.Errorf("setting the current split: unchanged %v, steps %q", p.Unchanged, whats(p))
	}
	p = compute(t, bookinfoTarget(), s, Change{Op: "step", To: "v1", By: 10})
	if !p.Unchanged {
		t.Errorf("a step beyond 100: %q", whats(p))
	}
}

// A VirtualService created for mesh traffic: hosts the short name, the
// destination the short name, the port when asked.
func TestCreateMeshVirtualService(t *testing.T) {
	s := bookinfoState(t)
	s.VirtualService, s.DestinationRule = nil, nil
	target := bookinfoTarget()
	target.Port = 9080
	p := compute(t, target, s, Change{Op: "set", Weights: Weights{{"v1", 80}, {"v2", 20}}})
	vs := p.Steps[1].Object
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	route := httpRoutes(t, vs)[0].(map[string]any)["route"].([]any)
	first := route[0].(map[string]any)["destination"]
	if !reflect.DeepEqual(hosts, []string{"reviews"}) || !reflect.DeepEqual(first, map[string]any{"host": "reviews", "subset": "v1", "port": map[string]any{"number": int64(9080)}}) {
		t.Errorf("hosts %v, destination %v", hosts, first)
	}
	if host, _, _ := unstructured.NestedString(p.Steps[0].Object.Object, "spec", "host"); host != "reviews" {
		t.Errorf("DestinationRule host %q", host)
	}
}
