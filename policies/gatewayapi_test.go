package policies

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Gateway API fragments of the route cases: a Gateway web in default with
// an HTTP listener for routes of its own namespace and one for all.
const (
	webGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: shared, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - {name: tls, port: 443, protocol: TLS, allowedRoutes: {namespaces: {from: All}}}
`
	teamGrant = `
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: team-routes, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team}]
  to: [{group: "", kind: Service}]
`
	externalEntry = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
`
)

// httpRoute builds an HTTPRoute reviews in namespace ns whose spec is
// given as YAML indented by two spaces.
func httpRoute(ns, spec string) string {
	return "\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: reviews, namespace: " + ns + "}\nspec:\n" + spec
}

func TestGatewayAPIRoutes(t *testing.T) {
	cases := []struct {
		name string
		docs []string
		want []want
	}{
		{
			name: "a valid route through a Gateway",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")},
		},
		{
			name: "a mesh route with a Service parent and relative weights",
			docs: []string{reviewsService, httpRoute("default", "  parentRefs: [{group: \"\", kind: Service, name: reviews, port: 9080}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080, weight: 90}, {name: reviews, port: 9080, weight: 20}]\n")},
			want: []want{{"MESH0809", "spec.rules[0].backendRefs", "add up to 110, not 100 (90/20)"}},
		},
		{
			name: "backendRefs without weights split evenly and are not reported",
			docs: []string{reviewsService, httpRoute("default", "  parentRefs: [{group: \"\", kind: Service, name: reviews, port: 9080}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}, {name: reviews, port: 9080}, {name: reviews, port: 9080}]\n")},
		},
		{
			name: "a backendRef to a Service that does not exist",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviewz, port: 9080}]\n")},
			want: []want{{"MESH0801", "spec.rules[0].backendRefs[0]", "Service default/reviewz does not exist"}},
		},
		{
			name: "a weight-0 backendRef beside others is dropped and cannot fail",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}, {name: reviewz, port: 9080, weight: 0}]\n")},
		},
		{
			name: "a single backendRef of weight 0 gets a 500 from pilot, not a call",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9999, weight: 0}]\n")},
			want: []want{{"MESH0808", "spec.rules[0].backendRefs", "add up to 0"}},
		},
		{
			name: "a backendRef to a port the Service lacks",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 8080}]\n")},
			want: []want{{"MESH0802", "spec.rules[0].backendRefs[0].port", "has no port 8080"}},
		},
		{
			name: "a Hostname backendRef to a ServiceEntry host",
			docs: []string{externalEntry, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{group: networking.istio.io, kind: Hostname, name: api.example.com, port: 443}, {group: networking.istio.io, kind: Hostname, name: nosuch.example.com, port: 443}]\n")},
			want: []want{{"MESH0801", "spec.rules[0].backendRefs[1]", "Hostname nosuch.example.com does not exist"}},
		},
		{
			name: "a backendRef of a kind Istio does not route to",
			docs: []string{externalEntry, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{group: networking.istio.io, kind: ServiceEntry, name: api, port: 443}]\n")},
			want: []want{{"MESH0801", "spec.rules[0].backendRefs[0]", `kind "ServiceEntry" is not one Istio routes to`}},
		},
		{
			name: "a cross-namespace backendRef without a ReferenceGrant",
			docs: []string{reviewsService, webGateway, httpRoute("team", "  parentRefs: [{name: web, namespace: default, sectionName: shared}]\n  rules:\n  - backendRefs: [{name: reviews, namespace: default, port: 9080}]\n")},
			want: []want{{"MESH0803", "spec.rules[0].backendRefs[0].namespace", "no ReferenceGrant in namespace default lets HTTPRoutes of namespace team"}},
		},
		{
			name: "a cross-namespace backendRef of a mesh route needs no ReferenceGrant",
			docs: []string{reviewsService, "\napiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: team}\nspec:\n  ports: [{name: http, port: 9080}]\n",
				httpRoute("team", "  parentRefs: [{kind: Service, group: \"\", name: reviews, port: 9080}]\n  rules:\n  - backendRefs: [{name: reviews, namespace: default, port: 9080}]\n")},
		},
		{
			name: "a Service parent and backend not exported to the route's namespace",
			docs: []string{reviewsService, "\napiVersion: v1\nkind: Service\nmetadata: {name: fraud, namespace: default, annotations: {networking.istio.io/exportTo: \".\"}}\nspec:\n  ports: [{name: http, port: 8000}]\n",
				httpRoute("team", "  parentRefs: [{kind: Service, group: \"\", name: fraud, namespace: default, port: 8000}, {kind: Service, group: \"\", name: reviews, namespace: default, port: 9080}]\n  rules:\n  - backendRefs: [{name: fraud, namespace: default, port: 8000}]\n")},
			want: []want{
				{"MESH0804", "spec.parentRefs[0]", "Service default/fraud is not exported to namespace team"},
				{"MESH0801", "spec.rules[0].backendRefs[0]", "Service default/fraud is not exported to namespace team"},
			},
		},
		{
			name: "a cross-namespace backendRef with a ReferenceGrant",
			docs: []string{reviewsService, webGateway, teamGrant, httpRoute("team", "  parentRefs: [{name: web, namespace: default, sectionName: shared}]\n  rules:\n  - backendRefs: [{name: reviews, namespace: default, port: 9080}]\n")},
		},
		{
			name: "an Istio Gateway of the same name is no parent",
			docs: []string{reviewsService, ingressGateway, httpRoute("default", "  parentRefs: [{name: bookinfo-gateway}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")},
			want: []want{{"MESH0804", "spec.parentRefs[0]", "Gateway default/bookinfo-gateway does not exist"}},
		},
		{
			name: "a Service parent that does not exist, and one without the port",
			docs: []string{reviewsService, httpRoute("default", "  parentRefs: [{kind: Service, group: \"\", name: ratings}, {kind: Service, group: \"\", name: reviews, port: 80}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")},
			want: []want{
				{"MESH0804", "spec.parentRefs[0]", "Service default/ratings does not exist"},
				{"MESH0805", "spec.parentRefs[1]", "Service default/reviews has no port 80"},
			},
		},
		{
			name: "a Service parent on a port that carries no HTTP",
			docs: []string{reviewsService, "\napiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: default}\nspec:\n  ports: [{name: tcp-db, port: 5432}, {name: https, port: 8443}]\n",
				httpRoute("default", "  parentRefs: [{kind: Service, group: \"\", name: db, port: 5432}, {kind: Service, group: \"\", name: db}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")},
			want: []want{
				{"MESH0805", "spec.parentRefs[0]", "Service default/db has no port 5432 carrying HTTP"},
				{"MESH0805", "spec.parentRefs[1]", "Service default/db has no port carrying HTTP"},
			},
		},
		{
			name: "a sectionName naming no listener",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web, sectionName: https}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")},
			want: []want{{"MESH0805", "spec.parentRefs[0]", `has no listener "https"`}},
		},
		{
			name: "listeners that do not admit the route's namespace or kind",
			docs: []string{reviewsService, webGateway, teamGrant, httpRoute("team", "  parentRefs: [{name: web, namespace: default, sectionName: http}, {name: web, namespace: default, port: 443}]\n  rules:\n  - backendRefs: [{name: reviews, namespace: default, port: 9080}]\n")},
			want: []want{
				{"MESH0806", "spec.parentRefs[0]", "admits HTTPRoutes of namespace team"},
				{"MESH0806", "spec.parentRefs[1]", "admits HTTPRoutes of namespace team"},
			},
		},
		{
			name: "negative and zero weights",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080, weight: -1}, {name: reviews, port: 9080, weight: 2}]\n  - backendRefs: [{name: reviews, port: 9080, weight: 0}, {name: reviews, port: 9080, weight: 0}]\n")},
			want: []want{
				{"MESH0807", "spec.rules[0].backendRefs[0].weight", "weight -1 is negative"},
				{"MESH0808", "spec.rules[1].backendRefs", "add up to 0"},
			},
		},
		{
			name: "a GRPCRoute is checked alike",
			docs: []string{reviewsService, webGateway, "\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: reviews, namespace: default}\nspec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviewz, port: 9080}]\n"},
			want: []want{{"MESH0801", "spec.rules[0].backendRefs[0]", "Service default/reviewz does not exist"}},
		},
		{
			name: "a malformed route gets schema findings",
			docs: []string{reviewsService, webGateway, httpRoute("default", "  parentRefs: web\n  rules:\n  - backendRefs: [{name: 7, port: 9080}, {name: reviews, port: \"9080\"}, {port: 9080}, 3]\n  - backendRefs: [{name: reviews}]\n  - 5\n")},
			want: []want{
				{"MESH0701", "spec.parentRefs", "must be a list"},
				{"MESH0701", "spec.rules[0].backendRefs[0].name", "must be a string"},
				{"MESH0701", "spec.rules[0].backendRefs[1].port", "must be a whole number"},
				{"MESH0702", "spec.rules[0].backendRefs[2].name", "is required"},
				{"MESH0701", "spec.rules[0].backendRefs[3]", "must be an object"},
				{"MESH0702", "spec.rules[1].backendRefs[0].port", "is required"},
				{"MESH0701", "spec.rules[2]", "must be an object"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, runCase(t, tc.docs, Settings{}), tc.want)
		})
	}
}

// TestBackendWeightsSeverity: relative weights are a warning by default,
// and the config file's rules turn MESH0809 off or up.
func TestBackendWeightsSeverity(t *testing.T) {
	docs := []string{reviewsService, httpRoute("default", "  parentRefs: [{group: \"\", kind: Service, name: reviews, port: 9080}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080, weight: 90}, {name: reviews, port: 9080, weight: 20}]\n")}
	for _, tc := range []struct {
		rules map[string]Severity
		want  Severity
	}{
		{nil, SeverityWarning},
		{map[string]Severity{"MESH0809": SeverityOff}, ""},
		{map[string]Severity{"MESH0809": SeverityError}, SeverityError},
	} {
		var got Severity
		for _, f := range runCase(t, docs, Settings{Rules: tc.rules}) {
			if f.Code == "MESH0809" {
				got = f.Severity
			}
		}
		if got != tc.want {
			t.Errorf("rules %v: MESH0809 is %q, want %q", tc.rules, got, tc.want)
		}
	}
}

// TestGatewayAPIGatewayIsNotReviewed: a Gateway API Gateway shares its kind
// name with Istio's Gateway, but is inventory only.
func TestGatewayAPIGatewayIsNotReviewed(t *testing.T) {
	objs, err := Parse("gw.yaml", []byte(webGateway+"\n---\n"+teamGrant), "default")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
		if o.IsReviewed() {
			t.Errorf("%s is reviewed", o.Ref())
		}
		fs, err := e.Review(context.Background(), Review{Operation: OperationCreate, Object: o}, idx)
		if err != nil || len(fs) > 0 {
			t.Errorf("%s: findings %v, error %v", o.Ref(), fs, err)
		}
	}
	if idx.Gateway("default", "web") != nil || idx.KubeGateway("default", "web") == nil {
		t.Error("the Gateway API Gateway is not keyed by its group")
	}
	if len(idx.ReferenceGrantsIn("default")) != 1 {
		t.Error("the ReferenceGrant is not indexed")
	}
	idx.Remove(KindGateway, GatewayAPIGroup, "default", "web")
	idx.Remove(KindReferenceGrant, GatewayAPIGroup, "default", "team-routes")
	if idx.KubeGateway("default", "web") != nil || len(idx.ReferenceGrantsIn("default")) != 0 {
		t.Error("Remove keeps Gateway API objects")
	}
}

// TestRoutesReferringTo: the index keeps routes by the namespaces they
// refer to, for the referenced side, and forgets them on Remove.
func TestRoutesReferringTo(t *testing.T) {
	objs, err := Parse("routes.yaml", []byte(httpRoute("team", "  parentRefs: [{name: web, namespace: default}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")), "default")
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	idx.Add(objs[0])
	idx.AddUnlessPresent(objs[0])
	for ns, want := range map[string]int{"default": 1, "team": 1, "shop": 0} {
		if got := idx.RoutesReferringTo(ns); len(got) != want {
			t.Errorf("routes referring to %s: %d, want %d", ns, len(got), want)
		}
	}
	if r := idx.RoutesReferringTo("team"); len(r) == 1 && (r[0].Kind != KindHTTPRoute || r[0].Name != "reviews" || len(r[0].BackendRefs) != 1 || len(r[0].ParentRefs) != 1) {
		t.Errorf("route %+v", r[0])
	}
	idx.Remove(KindHTTPRoute, GatewayAPIGroup, "team", "reviews")
	if len(idx.RoutesReferringTo("default"))+len(idx.RoutesReferringTo("team")) != 0 {
		t.Error("Remove keeps the route")
	}
}

// TestUserPoliciesSkipReferencedKinds: a Service reviewed on DELETE for
// the routes using it is not handed to user policies, which review the
// kinds they always did.
func TestUserPoliciesSkipReferencedKinds(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "all.rego"), []byte("package acme.all\n\nfindings contains {\"code\": \"ACME0001\", \"message\": input.kind} if true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(context.Background(), Options{PolicyDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Parse("svc.yaml", []byte(reviewsService), "default")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := e.Review(context.Background(), Review{Operation: OperationDelete, OldObject: objs[0]}, NewIndex(""))
	if err != nil || len(fs) != 0 {
		t.Errorf("findings %v, error %v", fs, err)
	}
}

// TestCheckServicePort: a Service file that replaces a live Service
// without the port a route names is reviewed as its UPDATE.
func TestCheckServicePort(t *testing.T) {
	live, err := Parse("stored.yaml", []byte(reviewsService+"\n---\n"+webGateway+"\n---\n"+httpRoute("default", "  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: reviews, port: 9080}]\n")), "default")
	if err != nil {
		t.Fatal(err)
	}
	changed := func() []*Object {
		objs, err := Parse("svc.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\nspec:\n  ports: [{name: http, port: 9090}]\n"), "default")
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Check(context.Background(), Change{Apply: changed(), Live: live})
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, out.Findings, []want{{"MESH0607", "spec.ports", "HTTPRoute default/reviews (spec.rules[0].backendRefs[0])"}})
	// Without a live version, a Service is not reviewed.
	idx := NewIndex("")
	for _, o := range live {
		idx.Add(o)
	}
	if fs, err := e.ReviewAll(context.Background(), changed(), idx, 1); err != nil || len(fs) != 0 {
		t.Errorf("findings %v, error %v", fs, err)
	}
	// Deleting the Service the route uses is reviewed as a DELETE.
	out, err = e.Check(context.Background(), Change{Delete: changed(), Live: live})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Findings) != 1 || out.Findings[0].Code != "MESH0606" {
		t.Errorf("deleting the Service: findings %v", out.Findings)
	}
}
