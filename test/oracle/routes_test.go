package oracle

import (
	"sort"
	"strings"
	"testing"
)

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
			name: "a cross-namespace backendRef of a mesh route needs no ReferenceGrant",
			manifest: gatewayAPIBase(service("team/reviews", "http:9080"), httpRoute("team", `  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - backendRefs: [{name: ratings, namespace: default, port: 9080}]
`)),
		},
		{
			name: "a cross-namespace backendRef of a route with a Gateway and a Service parent",
			manifest: gatewayAPIBase(service("team/reviews", "http:9080"), httpRoute("team", `  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}, {name: web, namespace: default}]
  rules:
  - backendRefs: [{name: ratings, namespace: default, port: 9080}]
`)),
			broken: []string{"team/reviews spec.rules[0].backendRefs[0]"},
		},
		{
			name: "a Service parent and backend not exported to the route's namespace",
			manifest: gatewayAPIBase(`apiVersion: v1
kind: Service
metadata: {name: fraud, namespace: default, annotations: {networking.istio.io/exportTo: "."}}
spec:
  ports: [{name: http, port: 8000}]
`, httpRoute("team", `  parentRefs: [{group: "", kind: Service, name: fraud, namespace: default, port: 8000}, {group: "", kind: Service, name: reviews, namespace: default, port: 9080}]
  rules:
  - backendRefs: [{name: fraud, namespace: default, port: 8000}]
`)),
			broken: []string{"team/reviews spec.parentRefs[0]", "team/reviews spec.rules[0].backendRefs[0]"},
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
			name: "a Service parent on a port that carries no HTTP",
			manifest: gatewayAPIBase(service("default/db", "tcp-db:5432", "http:8080"), httpRoute("default", `  parentRefs: [{group: "", kind: Service, name: db, port: 5432}, {group: "", kind: Service, name: db, port: 8080}]
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
		{
			name: "a single backendRef of weight 0 is never called, whatever its port",
			manifest: gatewayAPIBase(httpRoute("default", `  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: reviews, port: 9999, weight: 0}]
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
			routes := EvaluateRoutes(t, m)
			var got []string
			for _, r := range routes {
				for _, b := range r.Broken {
					got = append(got, r.Namespace+"/"+r.Name+" "+b.Field)
				}
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.broken, "\n") {
				t.Errorf("pilot breaks %q, the case says %q", got, tc.broken)
			}
			findings, err := Validate(productBin, writeCase(t, tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range CompareRoutes(routes, findings) {
				t.Error(d)
			}
		})
	}
}
