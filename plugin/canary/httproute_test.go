package canary

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func reviewsState() *State {
	s := &State{
		ServiceFound: true,
		Selector:     map[string]string{"app": "reviews"},
		Ports:        []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080), Protocol: corev1.ProtocolTCP, NodePort: 31000}},
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		s.Workloads = append(s.Workloads, Workload{Kind: "Deployment", Name: "reviews-" + v, Labels: map[string]string{"app": "reviews", "version": v}, Ready: 1, Replicas: 1})
	}
	return s
}

func computeHTTPRoute(t *testing.T, target Target, s *State, c Change) *Plan {
	t.Helper()
	if c.Now.IsZero() {
		c.Now = testNow
	}
	p, err := ComputeHTTPRoute(target, s, c)
	if err != nil {
		t.Fatalf("%s: %v", c.Op, err)
	}
	return p
}

// Istio's Gateway API traffic-shifting task with Bookinfo's reviews, from
// nothing to all on v2 with the other backendRefs pruned, and back.
func TestHTTPRouteCanary(t *testing.T) {
	s, target := reviewsState(), Target{Namespace: "bookinfo", Service: "reviews"}

	p := computeHTTPRoute(t, target, s, Change{Op: "set", Weights: mustWeights(t, "v1=90,v2=10")})
	if got, want := whats(p), []string{
		"service/reviews-v1: created for version v1 (app=reviews,version=v1)",
		"service/reviews-v2: created for version v2 (app=reviews,version=v2)",
		"httproute/reviews: route v1=90,v2=10",
	}; !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %q, want %q", got, want)
	}
	wantService := `apiVersion: v1
kind: Service
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: reviews-v2
  namespace: bookinfo
spec:
  ports:
  - name: http
    port: 9080
    protocol: TCP
    targetPort: 9080
  selector:
    app: reviews
    version: v2
`
	if got := toYAML(t, p.Steps[1].Object); got != wantService {
		t.Errorf("version Service:\n%s\nwant:\n%s", got, wantService)
	}
	wantRoute := `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  labels:
    app.kubernetes.io/managed-by: kubectl-mesh
  name: reviews
  namespace: bookinfo
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - backendRefs:
    - name: reviews-v1
      port: 9080
      weight: 90
    - name: reviews-v2
      port: 9080
      weight: 10
`
	if got := toYAML(t, p.Steps[2].Object); got != wantRoute {
		t.Errorf("HTTPRoute:\n%s\nwant:\n%s", got, wantRoute)
	}
	applied(t, s, p)

	p = computeHTTPRoute(t, target, s, Change{Op: "step", To: "v2", By: 10})
	if got, want := whats(p), []string{"httproute/reviews: route v1=80,v2=20"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("step: %q, want %q", got, want)
	}
	applied(t, s, p)

	p = computeHTTPRoute(t, target, s, Change{Op: "promote", To: "v2"})
	if got, want := whats(p), []string{"httproute/reviews: route v2=100"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("promote: %q, want %q", got, want)
	}
	applied(t, s, p)
	st, err := StatusOfHTTPRoute(target, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := backendsOf(st); got != "v1:reviews-v1=0 v2:reviews-v2=100" {
		t.Errorf("after promote: %s", got)
	}

	p = computeHTTPRoute(t, target, s, Change{Op: "promote", To: "v2", Prune: true})
	if got, want := whats(p), []string{"httproute/reviews: route v2=100, backendRefs reviews-v1 removed"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("promote --prune: %q, want %q", got, want)
	}
	applied(t, s, p)
	if p = computeHTTPRoute(t, target, s, Change{Op: "promote", To: "v2", Prune: true}); !p.Unchanged {
		t.Errorf("a second promote --prune changes %q", whats(p))
	}

	p = computeHTTPRoute(t, target, s, Change{Op: "rollback"})
	if got, want := whats(p), []string{"httproute/reviews: route v1=80,v2=20"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rollback: %q, want %q", got, want)
	}
	applied(t, s, p)
	st, err = StatusOfHTTPRoute(target, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := backendsOf(st); got != "v1:reviews-v1=80 v2:reviews-v2=20" {
		t.Errorf("after rollback: %s", got)
	}
	if len(st.History) != 1 || st.History[0].Weights.String() != "v1=90,v2=10" || st.HTTPRoute != "reviews" || st.API != "gateway" {
		t.Errorf("status after rollback: %+v", st)
	}
	if w := st.Subsets[0].Workloads; len(w) != 1 || w[0].Name != "reviews-v1" {
		t.Errorf("workloads of v1: %+v", w)
	}

	// A version that nothing has served yet gets its Service on the way.
	p = computeHTTPRoute(t, target, s, Change{Op: "step", To: "v3", By: 50})
	if got, want := whats(p), []string{
		"service/reviews-v3: created for version v3 (app=reviews,version=v3)",
		"httproute/reviews: route v1=40,v2=10,v3=50",
	}; !reflect.DeepEqual(got, want) {
		t.Fatalf("step to v3: %q, want %q", got, want)
	}
}

func backendsOf(st *Status) string {
	var parts []string
	for _, s := range st.Subsets {
		parts = append(parts, fmt.Sprintf("%s:%s=%d", s.Name, s.Backend, s.Weight))
	}
	return strings.Join(parts, " ")
}

func TestHTTPRouteRefusals(t *testing.T) {
	foreign := func(s *State) {
		s.HTTPRoute = object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: bookinfo}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews}]
  rules:
  - backendRefs: [{name: reviews-v1, port: 9080, weight: 50}, {name: ratings, port: 9080, weight: 50}]
`)
	}
	tests := []struct {
		name   string
		target Target
		edit   func(*State)
		change Change
		want   string
	}{
		{"several ports", Target{}, func(s *State) {
			s.Ports = append(s.Ports, corev1.ServicePort{Name: "grpc", Port: 9090})
		}, Change{Op: "set", Weights: Weights{{"v1", 100}}}, "service reviews has ports 9080, 9090: name the one to split with --port"},
		{"no such port", Target{Port: 80}, nil, Change{Op: "set", Weights: Weights{{"v1", 100}}}, "service reviews has no port 80 (ports: 9080)"},
		{"another service among the backends", Target{}, foreign, Change{Op: "set", Weights: Weights{{"v1", 100}}},
			"the default route of HTTPRoute reviews also routes to ratings (backendRefs[1]); canary shifts traffic between the versions of reviews only (Services reviews-VERSION)"},
		{"no such rule", Target{Route: "jason"}, foreign, Change{Op: "set", Weights: Weights{{"v1", 100}}}, "HTTPRoute reviews: no rule named jason (named routes: none)"},
		{"no history", Target{}, nil, Change{Op: "rollback"}, "no earlier split of the default route of HTTPRoute reviews to roll back to"},
		{"no Deployment runs v4", Target{}, nil, Change{Op: "set", Weights: Weights{{"v1", 50}, {"v4", 50}}}, "subset v4 selects version=v4, but no Deployment in namespace bookinfo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := reviewsState()
			if tt.edit != nil {
				tt.edit(s)
			}
			tt.target.Namespace, tt.target.Service = "bookinfo", "reviews"
			_, err := ComputeHTTPRoute(tt.target, s, tt.change)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("not a refusal: %v", err)
			}
		})
	}
}

func TestChooseHTTPRoute(t *testing.T) {
	route := func(name, parent string) string {
		return `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ` + name + `, namespace: bookinfo}
spec:
  parentRefs: [` + parent + `]
`
	}
	target := Target{Namespace: "bookinfo", Service: "reviews"}
	tests := []struct {
		name   string
		routes []string
		want   string
	}{
		{"the one whose parent is the Service", []string{route("edge", "{name: gw}"), route("split", `{group: "", kind: Service, name: reviews}`)}, "split"},
		{"an absent group is the Gateway API's", []string{route("split", `{kind: Service, name: reviews}`)}, ""},
		{"one named after the service", []string{route("reviews", "{name: gw}")}, "reviews"},
		{"the one named after the service among several", []string{route("a", `{group: "", kind: Service, name: reviews}`), route("reviews", `{group: "", kind: Service, name: reviews}`)}, "reviews"},
		{"several", []string{route("a", `{group: "", kind: Service, name: reviews}`), route("b", `{group: "", kind: Service, name: reviews}`)}, "error: HTTPRoutes a, b all have service reviews as parent; merge them first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var items []unstructured.Unstructured
			for _, r := range tt.routes {
				items = append(items, *object(t, r))
			}
			got, err := ChooseHTTPRoute(items, target)
			switch {
			case err != nil:
				if want := strings.TrimPrefix(tt.want, "error: "); !strings.Contains(err.Error(), want) || want == tt.want {
					t.Errorf("error %v, want %s", err, tt.want)
				}
			case got == nil:
				if tt.want != "" {
					t.Errorf("none, want %s", tt.want)
				}
			case got.GetName() != tt.want:
				t.Errorf("got %s, want %s", got.GetName(), tt.want)
			}
		})
	}
}

// The API server fills in a rule without matches with every path from /:
// that rule is still the default one.
func TestHTTPRouteDefaultRule(t *testing.T) {
	s := reviewsState()
	s.HTTPRoute = object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: bookinfo}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews}]
  rules:
  - matches: [{headers: [{name: end-user, value: jason}]}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: reviews-v1, port: 9080}]
`)
	st, err := StatusOfHTTPRoute(Target{Namespace: "bookinfo", Service: "reviews"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := backendsOf(st); got != "v1:reviews-v1=100" {
		t.Errorf("default rule: %s", got)
	}
	rules := s.HTTPRoute.Object["spec"].(map[string]any)["rules"].([]any)
	s.HTTPRoute.Object["spec"].(map[string]any)["rules"] = rules[:1]
	if _, err := StatusOfHTTPRoute(Target{Namespace: "bookinfo", Service: "reviews"}, s); err == nil ||
		!strings.Contains(err.Error(), "no default route (a rule without matches, or matching every path)") {
		t.Errorf("no default rule: %v", err)
	}
}
