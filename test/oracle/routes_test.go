package oracle

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// RouteBreakageCodes are kubectl-mesh's breakage checks of Gateway API
// routes: each must be an error exactly where pilot binds or routes
// nothing.
var RouteBreakageCodes = map[string]bool{
	"MESH0801": true, // UnknownBackend
	"MESH0802": true, // UnknownBackendPort
	"MESH0803": true, // BackendNotPermitted
	"MESH0804": true, // UnknownParent
	"MESH0805": true, // UnknownListener
	"MESH0806": true, // RouteNotAllowed
	"MESH0808": true, // ZeroBackendWeights
}

var routeSiteField = regexp.MustCompile(`^(spec\.parentRefs\[\d+\]|spec\.rules\[\d+\]\.backendRefs(\[\d+\])?)`)

// gatewayAPIBase is base with Istio's GatewayClass and a Gateway API
// Gateway "web" in default with an HTTP listener "http" on port 80.
func gatewayAPIBase(extra ...string) string {
	return base(append([]string{`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec:
  controllerName: istio.io/gateway-controller
`, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
`}, extra...)...)
}

// httpRoute writes an HTTPRoute reviews of namespace ns with the spec
// given as YAML indented by two spaces.
func httpRoute(ns, spec string) string {
	return "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: reviews, namespace: " + ns + "}\nspec:\n" + spec
}

// TestRouteSemantics holds kubectl-mesh's breakage errors on HTTPRoutes
// against what pilot's gateway controller makes of them.
func TestRouteSemantics(t *testing.T) {
	cases := []struct {
		name, manifest string
		broken         []string
	}{
		{
			name: "a valid route through a Gateway",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)),
		},
		{
			name: "a mesh route with a Service parent",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - backendRefs: [{name: reviews, port: 9080, weight: 90}, {name: ratings, port: 9080, weight: 10}]
`)),
		},
		{
			name: "a backendRef to a Service that does not exist",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: reviews, port: 9080, weight: 50}, {name: nosuch, port: 9080, weight: 50}]
`)),
			broken: []string{"default/reviews spec.rules[0].backendRefs[1]"},
		},
		{
			name: "a backendRef to a port the Service lacks",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: reviews, port: 8080}]
`)),
			broken: []string{"default/reviews spec.rules[0].backendRefs[0]"},
		},
		{
			name: "a cross-namespace backendRef without a ReferenceGrant",
			manifest: gatewayAPIBase(httpRoute("team", `  parentRefs: [{name: web, namespace: default}]
  rules:
  - backendRefs: [{name: reviews, namespace: default, port: 9080}]
`)),
			broken: []string{"team/reviews spec.rules[0].backendRefs[0]"},
		},
		{
			name: "a cross-namespace backendRef with a ReferenceGrant",
			manifest: gatewayAPIBase(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: team-routes, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team}]
  to: [{group: "", kind: Service}]
`, httpRoute("team", `  parentRefs: [{name: web, namespace: default}]
  rules:
  - backendRefs: [{name: reviews, namespace: default, port: 9080}]
`)),
		},
		{
			name: "a parentRef to a Gateway that does not exist",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: nosuch}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)),
			broken: []string{"default/reviews spec.parentRefs[0]"},
		},
		{
			name: "a sectionName naming no listener",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: web, sectionName: https}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)),
			broken: []string{"default/reviews spec.parentRefs[0]"},
		},
		{
			name: "a listener that takes routes of its own namespace only",
			manifest: gatewayAPIBase(service("team/reviews", "http:9080"), `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: private, namespace: default}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`, httpRoute("team", `  parentRefs: [{name: private, namespace: default}, {name: web, namespace: default}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)),
			broken: []string{"team/reviews spec.parentRefs[0]"},
		},
		{
			name: "a Service parent with a port the Service lacks",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{group: "", kind: Service, name: reviews, port: 8080}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)),
			broken: []string{"default/reviews spec.parentRefs[0]"},
		},
		{
			name: "a Service parent that does not exist",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{group: "", kind: Service, name: nosuch}]
  rules:
  - backendRefs: [{name: reviews, port: 9080}]
`)),
			broken: []string{"default/reviews spec.parentRefs[0]"},
		},
		{
			name: "weights that are all zero",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: reviews, port: 9080, weight: 0}, {name: ratings, port: 9080, weight: 0}]
`)),
			broken: []string{"default/reviews spec.rules[0].backendRefs"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			oracle := map[string]string{}
			for _, r := range EvaluateRoutes(t, m) {
				for _, b := range r.Broken {
					oracle[r.Namespace+"/"+r.Name+" "+b.Field] = b.Reason
				}
			}
			var got []string
			for s := range oracle {
				got = append(got, s)
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.broken, "\n") {
				t.Errorf("pilot breaks %q, the case says %q", got, tc.broken)
			}
			findings, err := Validate(productBin, writeCase(t, tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			product := map[string][]string{}
			for _, f := range findings {
				if f.Kind != "HTTPRoute" || f.Severity != "error" || !RouteBreakageCodes[f.Code] {
					continue
				}
				if m := routeSiteField.FindString(f.Field); m != "" {
					s := f.Namespace + "/" + f.Name + " " + m
					product[s] = append(product[s], f.Code+" "+f.Message)
				}
			}
			for s, reason := range oracle {
				if len(product[s]) == 0 {
					t.Errorf("%s: pilot shows it broken (%s) but kubectl-mesh reports no error", s, reason)
				}
			}
			for s, msgs := range product {
				if oracle[s] == "" {
					t.Errorf("%s: pilot routes it, but kubectl-mesh reports %s", s, strings.Join(msgs, "; "))
				}
			}
		})
	}
}
