package resilience

import (
	"strings"
	"testing"
)

func TestRetrySupport(t *testing.T) {
	crd := func(annotations, rules string) string {
		return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: httproutes.gateway.networking.k8s.io
  annotations: {` + annotations + `}
spec:
  versions:
  - name: v1beta1
    schema: {openAPIV3Schema: {properties: {spec: {properties: {rules: {items: {properties: {retry: {type: object}}}}}}}}}
  - name: v1
    schema: {openAPIV3Schema: {properties: {spec: {properties: {rules: {items: {properties: {` + rules + `}}}}}}}}
`
	}
	tests := []struct {
		name, crd string
		want      string
	}{
		{"experimental", crd("gateway.networking.k8s.io/bundle-version: v1.6.0, gateway.networking.k8s.io/channel: experimental", "retry: {type: object}"), ""},
		{"standard", crd("gateway.networking.k8s.io/bundle-version: v1.6.0, gateway.networking.k8s.io/channel: standard", "timeouts: {type: object}"),
			"the installed Gateway API (v1.6.0 standard) lacks HTTPRoute retry"},
		{"unannotated, retry in another version only", crd("", "timeouts: {type: object}"), "the installed Gateway API (of unknown version) lacks HTTPRoute retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := retrySupportOf(object(t, tt.crd)).Check()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// The HTTPRoute created for a Service, its timeout and retry merged, and
// clear: what kubectl-mesh made goes once it holds nothing else.
func TestHTTPRouteRules(t *testing.T) {
	target := Target{Namespace: "bookinfo", Host: "ratings"}
	s := &State{ServicePorts: []int64{9080}}
	step, err := ChangeRules(target, s, "timeouts.request 2s", RequestTimeout("2s"), false)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: ratings
  namespace: bookinfo
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: ratings
  rules:
  - backendRefs:
    - name: ratings
      port: 9080
    timeouts:
      request: 2s
`
	if got := toYAML(t, step.Object); got != want {
		t.Errorf("created:\n%s\nwant:\n%s", got, want)
	}
	live := step.Result.DeepCopy()
	live.SetResourceVersion("3")
	s.HTTPRoute = live

	attempts := int64(3)
	step, err = ChangeRules(target, s, "retry", SetRouteRetry(RouteRetry{Attempts: &attempts, Codes: []int64{503}}), false)
	if err != nil {
		t.Fatal(err)
	}
	if step.What != "httproute/ratings: retry; timeouts kept" {
		t.Errorf("what: %s", step.What)
	}
	step, err = ChangeRules(target, s, "retry", SetRouteRetry(RouteRetry{Attempts: &attempts}), true)
	if err != nil || step.What != "httproute/ratings: retry; timeouts removed (--replace)" {
		t.Errorf("replace: %v %q", err, step.What)
	}

	steps, err := ClearRules(target, s, []string{WhatTimeout, WhatRetry})
	if err != nil || len(steps) != 1 || !steps[0].Delete {
		t.Fatalf("clear of what kubectl-mesh created: %v %+v", err, steps)
	}
	// A label of someone's keeps the route.
	s.HTTPRoute.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "kubectl-mesh", "team": "books"})
	steps, err = ClearRules(target, s, []string{WhatTimeout})
	if err != nil || len(steps) != 1 || steps[0].Delete || steps[0].What != "httproute/ratings: removed timeouts" {
		t.Fatalf("clear of a labelled route: %v %+v", err, steps)
	}

	if _, err := ChangeRules(target, &State{ServicePorts: []int64{80, 443}}, "t", RequestTimeout("1s"), false); err == nil ||
		!strings.Contains(err.Error(), "service ratings has 2 ports: create its HTTPRoute first") {
		t.Errorf("several ports: %v", err)
	}
}
