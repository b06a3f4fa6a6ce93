package oracle

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// service writes a Service of namespace/name with named ports "name:number".
func service(ref string, ports ...string) string {
	ns, name, _ := strings.Cut(ref, "/")
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\n", name, ns)
	fmt.Fprintf(&b, "spec:\n  selector:\n    app: %s\n  ports:\n", name)
	for _, p := range ports {
		pn, num, _ := strings.Cut(p, ":")
		fmt.Fprintf(&b, "  - name: %s\n    port: %s\n", pn, num)
	}
	return b.String()
}

func namespace(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)
}

const ingressGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/shop.example.com"]
`

func docs(d ...string) string { return strings.Join(d, "\n---\n") }

// base is a small mesh: namespaces default and team, single-port
// Services reviews and ratings, two-port Services web (80, 8080) and api
// (9080, 9090), and a Gateway in istio-system.
func base(extra ...string) string {
	return docs(append([]string{
		namespace("default"), namespace("team"), namespace("istio-system"),
		service("default/reviews", "http:9080"),
		service("default/ratings", "http:9080"),
		service("default/web", "http:80", "http-admin:8080"),
		service("default/api", "http:9080", "grpc:9090"),
		service("default/api-canary", "http:9080", "grpc:9090"),
		ingressGateway,
	}, extra...)...)
}

const reviewsSubsets = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`

// TestSemantics holds kubectl-mesh's breakage errors against pilot, case by
// case: where pilot routes a call kubectl-mesh must not refuse it, and
// where the call ends in a cluster that does not exist it must.
func TestSemantics(t *testing.T) {
	cases := []struct {
		name     string
		manifest string
		// broken are the places pilot shows failing, "ns/name field".
		broken []string
		// noCodes are codes that must not be reported at all.
		noCodes []string
	}{
		{
			name: "mesh route to the same multi-port Service without a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web}
`),
		},
		{
			name: "mesh route to another Service with the same ports, without a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api]
  http:
  - route:
    - destination: {host: api}
      weight: 80
    - destination: {host: api-canary.default.svc.cluster.local}
      weight: 20
`),
		},
		{
			name: "mesh route to another multi-port Service that lacks the listener's port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: api}
`),
			broken: []string{"default/web spec.http[0].route[0].destination"},
		},
		{
			// At a sidecar pilot looks destinations up among the Services
			// on the listener's port only, so reviews' one port (9080) is
			// not taken: the cluster is outbound|80||reviews.
			name: "mesh route to another single-port Service without a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: reviews}
`),
			broken: []string{"default/web spec.http[0].route[0].destination"},
		},
		{
			name: "gateway route to a single-port Service without a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/edge]
  http:
  - route:
    - destination: {host: reviews}
`),
		},
		{
			name: "gateway route to a multi-port Service without a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/edge]
  http:
  - route:
    - destination: {host: api}
`),
			broken: []string{"default/shop spec.http[0].route[0].destination"},
		},
		{
			name: "gateway route to a multi-port Service that has the listener's port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/edge]
  http:
  - route:
    - destination: {host: web}
`),
		},
		{
			name: "gateway route to a multi-port Service with a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/edge]
  http:
  - route:
    - destination: {host: api, port: {number: 9080}}
`),
		},
		{
			name: "bound to a gateway and mesh, the short host served by mesh only",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews, shop.example.com]
  gateways: [istio-system/edge, mesh]
  http:
  - route:
    - destination: {host: reviews, port: {number: 9080}}
`),
			noCodes: []string{"MESH0503"},
		},
		{
			// Sidecars serve shop.example.com, which no registry knows, on
			// their port-80 listener, and without a port the route goes to
			// reviews:80.
			name: "bound to a gateway and mesh, an external host and a destination without a port",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews, shop.example.com]
  gateways: [istio-system/edge, mesh]
  http:
  - route:
    - destination: {host: reviews}
`),
			broken:  []string{"default/reviews spec.http[0].route[0].destination"},
			noCodes: []string{"MESH0503"},
		},
		{
			name: "no host served by the bound gateway",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.example.org]
  gateways: [istio-system/edge]
  http:
  - route:
    - destination: {host: reviews}
`),
			broken: []string{"default/reviews spec.gateways"},
		},
		{
			name: "a gateway that does not exist",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews}
`),
			broken: []string{"default/shop spec.gateways"},
		},
		{
			name: "a subset no DestinationRule defines",
			manifest: base(reviewsSubsets, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v3}
      weight: 10
`),
			broken: []string{"default/reviews spec.http[0].route[1].destination"},
		},
		{
			name: "an undefined subset with weight 0 beside others",
			manifest: base(reviewsSubsets, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 100
    - destination: {host: reviews, subset: v3}
      weight: 0
`),
		},
		{
			name: "a port the Service lacks",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, port: {number: 9999}}
`),
			broken: []string{"default/reviews spec.http[0].route[0].destination"},
		},
		{
			name: "a short host of another namespace",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: team}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: ratings}
`),
			broken: []string{"team/reviews spec.http[0].route[0].destination"},
		},
		{
			name: "exported to a namespace the destination is hidden from",
			manifest: base(`apiVersion: v1
kind: Service
metadata:
  name: secret
  namespace: default
  annotations: {networking.istio.io/exportTo: "."}
spec:
  selector: {app: secret}
  ports: [{name: http, port: 9080}]
`, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  exportTo: [".", team]
  http:
  - route:
    - destination: {host: secret}
`),
			broken: []string{"default/reviews spec.http[0].route[0].destination"},
		},
		{
			// team's sidecars do not see secret, but serve its host, which
			// they do not know, on their port-80 listener (web has port 80),
			// and route it to a cluster they do not have.
			name: "exported everywhere, for a Service some namespaces do not see",
			manifest: base(`apiVersion: v1
kind: Service
metadata:
  name: secret
  namespace: default
  annotations: {networking.istio.io/exportTo: "."}
spec:
  selector: {app: secret}
  ports: [{name: http, port: 80}]
`, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secret, namespace: default}
spec:
  hosts: [secret]
  http:
  - route:
    - destination: {host: secret}
`),
			broken: []string{"default/secret spec.http[0].route[0].destination"},
		},
		{
			name: "the same, kept to the namespace that sees it",
			manifest: base(`apiVersion: v1
kind: Service
metadata:
  name: secret
  namespace: default
  annotations: {networking.istio.io/exportTo: "."}
spec:
  selector: {app: secret}
  ports: [{name: http, port: 80}]
`, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secret, namespace: default}
spec:
  hosts: [secret]
  exportTo: ["."]
  http:
  - route:
    - destination: {host: secret}
`),
		},
		{
			// A port named https is TLS to a sidecar: no HTTP routes on it.
			name: "an https port carries no HTTP routes",
			manifest: base(service("default/secure", "http:8080", "https:8443"), service("default/backend", "http:8080"), `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure, namespace: default}
spec:
  hosts: [secure]
  http:
  - route:
    - destination: {host: backend}
`),
		},
		{
			name: "a subset defined only in another namespace's private DestinationRule",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: team}
spec:
  host: reviews.default.svc.cluster.local
  exportTo: ["."]
  subsets:
  - {name: v1, labels: {version: v1}}
`, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  exportTo: ["."]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`),
			broken: []string{"default/reviews spec.http[0].route[0].destination"},
		},
		{
			name: "a subset from the root namespace's DestinationRule",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: istio-system}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
`, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`),
		},
		{
			// pilot names the cluster after the destination host; the
			// entry's cluster is named after the wildcard.
			name: "a host only a ServiceEntry wildcard serves",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: default}
spec:
  hosts: ["*.partner.example.com"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{number: 80, name: http, protocol: HTTP}]
`, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: partner, namespace: default}
spec:
  hosts: [api.partner.example.com]
  http:
  - timeout: 3s
    route:
    - destination: {host: api.partner.example.com}
`),
			broken: []string{"default/partner spec.http[0].route[0].destination"},
		},
		{
			name: "a mirror to a host that does not exist",
			manifest: base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
    mirror: {host: reviews-shadow}
`),
			broken: []string{"default/reviews spec.http[0].mirror"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			v := Evaluate(t, m)
			var got []string
			for _, vs := range v.VirtualServices {
				for _, b := range vs.Broken {
					got = append(got, vs.Namespace+"/"+vs.Name+" "+b.Field)
				}
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.broken, "\n") {
				t.Errorf("pilot breaks %q, the case says %q", got, tc.broken)
				dump(t, v)
			}
			findings, err := Validate(productBin, writeCase(t, tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range Compare(v, findings) {
				t.Errorf("%s", d)
			}
			for _, f := range findings {
				for _, c := range tc.noCodes {
					if f.Code == c {
						t.Errorf("%s reported: %s", c, f.Message)
					}
				}
			}
		})
	}
}

func dump(t *testing.T, v *Verdict) {
	t.Helper()
	for _, vs := range v.VirtualServices {
		for _, d := range vs.Destinations {
			t.Logf("%s/%s %s from %s -> %s (exists %v, weight %d)", vs.Namespace, vs.Name, d.Field, d.Proxy, d.Cluster, d.Exists, d.Weight)
		}
		for p, a := range vs.Applied {
			t.Logf("%s/%s applied at %s: %v", vs.Namespace, vs.Name, p, a)
		}
		for _, b := range vs.Broken {
			t.Logf("%s/%s broken %s: %s", vs.Namespace, vs.Name, b.Field, b.Reason)
		}
	}
}

// TestRefusedManifests: what pilot's parser refuses, kubectl-mesh refuses
// as a schema finding, and neither side panics.
func TestRefusedManifests(t *testing.T) {
	for _, tc := range []struct{ name, manifest string }{
		{"a destination host that is a number", base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: 9080}
`)},
		{"routes that are not a list", base(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: reviews
`)},
		{"subsets that are not a list", base(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: {v1: {version: v1}}
`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.manifest)); err == nil {
				t.Fatal("pilot's parser takes it")
			}
			findings, err := Validate(productBin, writeCase(t, tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			ds, _, _ := differ(t, tc.manifest, findings)
			for _, d := range ds {
				t.Errorf("%s", d)
			}
		})
	}
}
