package policies

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Inventory fragments shared by the cases below.
const (
	reviewsService = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
`
	reviewsRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`
	ingressGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`
)

// vs builds a VirtualService in namespace ns whose spec is given as YAML
// indented by two spaces.
func vs(ns, spec string) string {
	return "\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: " + ns + "}\nspec:\n" + spec
}

type want struct {
	code    string
	field   string
	message string // a part of the message
}

func runCase(t *testing.T, docs []string, s Settings) []Finding {
	t.Helper()
	objs, err := Parse("case.yaml", []byte(strings.Join(docs, "\n---\n")), "default")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	e, err := NewEngine(context.Background(), Options{Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex(e.Settings().ClusterDomain)
	for _, o := range objs {
		idx.Add(o)
	}
	fs, err := e.ReviewAll(context.Background(), objs, idx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Reviewed one by one, as the webhook does (no facts shared between
	// reviews), the objects must give exactly the same findings.
	var single []Finding
	for _, o := range objs {
		got, err := e.Review(context.Background(), Review{Operation: OperationCreate, Object: o}, idx)
		if err != nil {
			t.Fatal(err)
		}
		single = append(single, got...)
	}
	SortFindings(single)
	if !reflect.DeepEqual(fs, single) {
		t.Errorf("one review at a time gives other findings:\n%s\nall at once:\n%s", messages(single), messages(fs))
	}
	// The same review of objects compacted once indexed, as validate
	// does, must find exactly the same.
	for _, o := range objs {
		o.Compact()
	}
	compacted, err := e.ReviewAll(context.Background(), objs, idx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fs, compacted) {
		t.Errorf("compacted objects give other findings:\n%s\nwhole:\n%s", messages(compacted), messages(fs))
	}
	return fs
}

func checkFindings(t *testing.T, got []Finding, wants []want) {
	t.Helper()
	var gotCodes, wantCodes []string
	for _, f := range got {
		gotCodes = append(gotCodes, f.Code+" "+f.Field)
	}
	for _, w := range wants {
		wantCodes = append(wantCodes, w.code+" "+w.field)
	}
	sort.Strings(gotCodes)
	sort.Strings(wantCodes)
	if strings.Join(gotCodes, "\n") != strings.Join(wantCodes, "\n") {
		t.Fatalf("findings:\n got: %v\nwant: %v\nmessages:\n%s", gotCodes, wantCodes, messages(got))
	}
	for _, w := range wants {
		found := false
		for _, f := range got {
			if f.Code == w.code && f.Field == w.field && strings.Contains(f.Message, w.message) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s at %s with message containing %q:\n%s", w.code, w.field, w.message, messages(got))
		}
	}
}

func messages(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Text() + "\n")
	}
	return b.String()
}

func TestChecks(t *testing.T) {
	route := func(host, subset string, weight int) string {
		s := "    - destination: {host: " + host
		if subset != "" {
			s += ", subset: " + subset
		}
		s += "}\n"
		if weight != noWeight {
			s += "      weight: " + strconv.Itoa(weight) + "\n"
		}
		return s
	}
	split := func(ns string, dests ...string) string {
		return vs(ns, "  hosts: [reviews]\n  http:\n  - route:\n"+strings.Join(dests, ""))
	}
	cases := []struct {
		name     string
		docs     []string
		settings Settings
		want     []want
	}{
		{name: "canary 90/10 over defined subsets is clean",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 90), route("reviews", "v2", 10))}},
		{name: "weights 90/20",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 90), route("reviews", "v2", 20))},
			want: []want{{"MESH0104", "spec.http[0].route", "add up to 110, not 100 (90/20)"}}},
		{name: "sum-to-100 rule set to warning by config",
			docs:     []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 90), route("reviews", "v2", 20))},
			settings: Settings{Rules: map[string]Severity{"MESH0104": SeverityWarning}},
			want:     []want{{"MESH0104", "spec.http[0].route", "90/20"}}},
		{name: "sum-to-100 rule off",
			docs:     []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 90), route("reviews", "v2", 20))},
			settings: Settings{Rules: map[string]Severity{"MESH0104": SeverityOff}}},
		{name: "negative weight",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 110), route("reviews", "v2", -10))},
			want: []want{{"MESH0101", "spec.http[0].route[1].weight", "weight -10 is negative"}}},
		{name: "zero total over two destinations",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 0), route("reviews", "v2", 0))},
			want: []want{{"MESH0102", "spec.http[0].route", "add up to 0"}}},
		{name: "int32 overflow of the total",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 2147483647), route("reviews", "v2", 1))},
			want: []want{{"MESH0103", "spec.http[0].route", "2147483648"}}},
		{name: "single destination weight 50 is a warning",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 50))},
			want: []want{{"MESH0105", "spec.http[0].route[0].weight", "weight 50"}}},
		{name: "same host and subset twice",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 50), route("reviews", "v1", 50))},
			want: []want{{"MESH0106", "spec.http[0].route[1].destination", "repeats destination 0"}}},
		{name: "subset no DestinationRule defines",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 90), route("reviews", "v3", 10))},
			want: []want{{"MESH0301", "spec.http[0].route[1].destination.subset", `subset "v3" of host reviews.default.svc.cluster.local is not defined by any DestinationRule visible from namespace default; DestinationRule default/reviews defines v1, v2`}}},
		{name: "subset without any DestinationRule",
			docs: []string{reviewsService, split("default", route("reviews", "v1", noWeight))},
			want: []want{{"MESH0301", "spec.http[0].route[0].destination.subset", "define the subset in a DestinationRule"}}},
		{name: "short name resolves in the VirtualService's namespace",
			docs: []string{reviewsService, reviewsRule, split("team", route("reviews", "", noWeight))},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", `host "reviews" (reviews.team.svc.cluster.local) is no Service or ServiceEntry visible from namespace team; did you mean reviews.default.svc.cluster.local?`}}},
		{name: "FQDN across namespaces resolves, subsets from the service's namespace",
			docs: []string{reviewsService, reviewsRule, split("team", route("reviews.default.svc.cluster.local", "v2", noWeight))}},
		{name: "a typo of a Service in the namespace gets a suggestion",
			docs: []string{reviewsService, split("default", route("reveiws", "", noWeight))},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", `host "reveiws" (reveiws.default.svc.cluster.local) is no Service or ServiceEntry visible from namespace default; did you mean reviews.default.svc.cluster.local?`}}},
		{name: "a far-off name gets no suggestion",
			docs: []string{reviewsService, split("default", route("ratings", "", noWeight))},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", "create the Service or a ServiceEntry for it"}}},
		{name: "a name with dots is taken literally",
			docs: []string{reviewsService, split("default", route("reviews.default", "", noWeight))},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", "did you mean reviews.default.svc.cluster.local"}}},
		{name: "cluster domain is configurable",
			docs:     []string{reviewsService, split("team", route("reviews.default.svc.cluster.local", "", noWeight))},
			settings: Settings{ClusterDomain: "corp.example"},
			want:     []want{{"MESH0201", "spec.http[0].route[0].destination.host", "reviews.default.svc.corp.example"}}},
		{name: "Service exportTo annotation hides it",
			docs: []string{strings.Replace(reviewsService, "namespace: default}", "namespace: default, annotations: {networking.istio.io/exportTo: \".\"}}", 1),
				split("team", route("reviews.default.svc.cluster.local", "", noWeight))},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", "it exists as Service default/reviews (networking.istio.io/exportTo: .), which is not exported to namespace team"}}},
		{name: "ServiceEntry exact and wildcard hosts",
			docs: []string{`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.example.com, "*.wiki.org"]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS`, split("default", route("api.example.com", "", noWeight)), strings.Replace(split("default", route("\"*.wiki.org\"", "", noWeight)), "name: reviews", "name: wiki", 1)}},
		{name: "a wildcard ServiceEntry has a cluster for the wildcard only",
			docs: []string{`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: ["*.wiki.org"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE`, strings.Replace(split("default", route("en.wiki.org", "", noWeight)), "name: reviews", "name: wiki", 1)},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", "did you mean *.wiki.org?"}}},
		{name: "ServiceEntry exportTo . hides it from other namespaces",
			docs: []string{`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.example.com]
  exportTo: ["."]
  ports: [{number: 443, name: https}]`, split("team", route("api.example.com", "", noWeight))},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", "ServiceEntry default/ext (exportTo: .)"}}},
		{name: "mirror host must resolve",
			docs: []string{reviewsService, vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n    mirror: {host: reviews-shadow}\n")},
			want: []want{{"MESH0201", "spec.http[0].mirror.host", `host "reviews-shadow"`}}},
		{name: "tcp and tls routes are checked",
			docs: []string{reviewsService, vs("default", "  hosts: [reviews]\n  tcp:\n  - route:\n    - destination: {host: nope}\n  tls:\n  - match: [{sniHosts: [reviews]}]\n    route:\n    - destination: {host: reviews, subset: v9}\n")},
			want: []want{{"MESH0201", "spec.tcp[0].route[0].destination.host", `"nope"`}, {"MESH0301", "spec.tls[0].route[0].destination.subset", `"v9"`}}},
		{name: "port not on the Service",
			docs: []string{reviewsService, vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, port: {number: 8080}}\n")},
			want: []want{{"MESH0401", "spec.http[0].route[0].destination.port.number", "port 8080 is not a port of Service default/reviews; it has 9080 (http)"}}},
		{name: "a mesh route to its own multi-port Service needs no port",
			docs: []string{strings.Replace(reviewsService, "ports: [{name: http, port: 9080}]", "ports: [{name: http, port: 9080}, {name: grpc, port: 9090}]", 1),
				vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n")}},
		{name: "a gateway route to a multi-port Service needs a port",
			docs: []string{strings.Replace(reviewsService, "ports: [{name: http, port: 9080}]", "ports: [{name: http, port: 9080}, {name: grpc, port: 9090}]", 1),
				"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: edge, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n",
				vs("default", "  hosts: [shop.example.com]\n  gateways: [istio-system/edge]\n  http:\n  - route:\n    - destination: {host: reviews}\n")},
			want: []want{{"MESH0402", "spec.http[0].route[0].destination", "served on port 80 (Gateway istio-system/edge), and without port.number Envoy sends it to the listener's port, which Service default/reviews lacks (it has 9080 (http), 9090 (grpc))"}}},
		{name: "a mesh route to another multi-port Service lacking the listener's port",
			docs: []string{reviewsService, strings.Replace(strings.Replace(reviewsService, "name: reviews", "name: ratings", 1), "ports: [{name: http, port: 9080}]", "ports: [{name: http, port: 8080}, {name: grpc, port: 9090}]", 1),
				vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: ratings}\n")},
			want: []want{{"MESH0402", "spec.http[0].route[0].destination", "served on port 9080 (Service default/reviews)"}}},
		{name: "a weight-0 destination beside others is left out by pilot",
			docs: []string{reviewsService, reviewsRule, split("default", route("reviews", "v1", 100), route("reviews", "v9", 0))}},
		{name: "a destination hidden from a namespace the VirtualService is exported to",
			docs: []string{reviewsService, strings.Replace(reviewsService, "{name: reviews, namespace: default}", "{name: secret, namespace: default, annotations: {networking.istio.io/exportTo: \".\"}}", 1),
				vs("default", "  hosts: [reviews]\n  exportTo: [\".\", team]\n  http:\n  - route:\n    - destination: {host: secret}\n")},
			want: []want{{"MESH0201", "spec.http[0].route[0].destination.host", "is not visible from namespace team, which this VirtualService is exported to"}}},
		{name: "DestinationRule in the client namespace shadows the service's",
			docs: []string{reviewsService, reviewsRule, strings.Replace(strings.Replace(strings.Replace(reviewsRule, "namespace: default", "namespace: team", 1), "  - {name: v2, labels: {version: v2}}\n", "", 1), "host: reviews", "host: reviews.default.svc.cluster.local", 1),
				split("team", route("reviews.default.svc.cluster.local", "v2", noWeight))},
			want: []want{{"MESH0301", "spec.http[0].route[0].destination.subset", "DestinationRule team/reviews defines v1; DestinationRule default/reviews defines it but is not applied: namespace team gets team/reviews instead"}}},
		{name: "DestinationRule exportTo . hides its subsets",
			docs: []string{reviewsService, strings.Replace(reviewsRule, "  host: reviews\n", "  host: reviews\n  exportTo: [\".\"]\n", 1),
				split("team", route("reviews.default.svc.cluster.local", "v1", noWeight))},
			want: []want{{"MESH0301", "spec.http[0].route[0].destination.subset", "its exportTo [.] does not include namespace team"}}},
		{name: "root namespace DestinationRule applies",
			docs: []string{reviewsService, strings.Replace(strings.Replace(reviewsRule, "namespace: default", "namespace: istio-system", 1), "host: reviews", "host: reviews.default.svc.cluster.local", 1),
				split("team", route("reviews.default.svc.cluster.local", "v2", noWeight))}},
		{name: "root namespace is configurable",
			docs: []string{reviewsService, strings.Replace(strings.Replace(reviewsRule, "namespace: default", "namespace: mesh-root", 1), "host: reviews", "host: reviews.default.svc.cluster.local", 1),
				split("team", route("reviews.default.svc.cluster.local", "v2", noWeight))},
			settings: Settings{RootNamespace: "mesh-root"}},
		{name: "wildcard DestinationRule host covers the service",
			docs: []string{reviewsService, strings.Replace(reviewsRule, "host: reviews", "host: \"*.default.svc.cluster.local\"", 1), split("default", route("reviews", "v1", noWeight))}},
		{name: "subset selecting no pod is a warning when pods are given",
			docs: []string{reviewsService, reviewsRule, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: default}
spec:
  template:
    metadata: {labels: {app: reviews, version: v1}}`, split("default", route("reviews", "v1", 50), route("reviews", "v2", 50))},
			want: []want{{"MESH0302", "spec.http[0].route[1].destination.subset", "selects no workload of Service default/reviews"}}},
		{name: "duplicate subset names in a DestinationRule",
			docs: []string{reviewsService, strings.Replace(reviewsRule, "name: v2", "name: v1", 1)},
			want: []want{{"MESH0303", "spec.subsets[1].name", `subset "v1" is defined twice`}}},
		{name: "DestinationRule for an unknown host",
			docs: []string{strings.Replace(reviewsRule, "host: reviews", "host: reveiws", 1)},
			want: []want{{"MESH0202", "spec.host", "applies to nothing"}}},
		{name: "gateway bound and serving *",
			docs: []string{reviewsService, ingressGateway, vs("default", "  hosts: [\"*\"]\n  gateways: [bookinfo-gateway, mesh]\n  http:\n  - route:\n    - destination: {host: reviews}\n")}},
		{name: "gateway in another namespace needs ns/name",
			docs: []string{reviewsService, strings.Replace(ingressGateway, "namespace: default", "namespace: istio-system", 1),
				vs("default", "  hosts: [\"*\"]\n  gateways: [bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews}\n")},
			want: []want{{"MESH0501", "spec.gateways[0]", "Gateway default/bookinfo-gateway does not exist (a name without a namespace means namespace default)"}}},
		{name: "gateway named ns/name resolves",
			docs: []string{reviewsService, strings.Replace(ingressGateway, "namespace: default", "namespace: istio-system", 1),
				vs("default", "  hosts: [\"*\"]\n  gateways: [istio-system/bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews}\n")}},
		{name: "gateway serving none of the hosts",
			docs: []string{reviewsService, strings.Replace(ingressGateway, `hosts: ["*"]`, `hosts: ["bookinfo.example.com"]`, 1),
				vs("default", "  hosts: [shop.example.com]\n  gateways: [bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews}\n")},
			want: []want{{"MESH0502", "spec.gateways[0]", "(server hosts bookinfo.example.com)"}}},
		{name: "gateway serving one of two hosts",
			docs: []string{reviewsService, strings.Replace(ingressGateway, `hosts: ["*"]`, `hosts: ["*.example.com"]`, 1),
				vs("default", "  hosts: [a.example.com, b.example.org]\n  gateways: [bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews}\n")},
			want: []want{{"MESH0503", "spec.gateways[0]", `host "b.example.org" is not served`}}},
		{name: "server host namespace restricts VirtualServices",
			docs: []string{reviewsService, strings.Replace(ingressGateway, `hosts: ["*"]`, `hosts: ["prod/*"]`, 1),
				vs("default", "  hosts: [\"*\"]\n  gateways: [bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews}\n")},
			want: []want{{"MESH0502", "spec.gateways[0]", "prod/*"}}},
		{name: "exportTo hides the VirtualService from the gateway",
			docs: []string{reviewsService, strings.Replace(ingressGateway, "namespace: default", "namespace: istio-system", 1),
				vs("default", "  hosts: [\"*\"]\n  exportTo: [\".\"]\n  gateways: [istio-system/bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews.default.svc.cluster.local}\n")},
			want: []want{{"MESH0504", "spec.exportTo", `add "istio-system" to exportTo`}}},
		{name: "match gateways are checked",
			docs: []string{reviewsService, ingressGateway, vs("default", "  hosts: [\"*\"]\n  gateways: [bookinfo-gateway]\n  http:\n  - match: [{gateways: [other-gateway]}]\n    route:\n    - destination: {host: reviews}\n")},
			want: []want{{"MESH0501", "spec.http[0].match[0].gateways[0]", "default/other-gateway"}}},
		{name: "wrong types are schema findings, not crashes",
			docs: []string{reviewsService, vs("default", "  hosts: reviews\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: \"90\"\n    - destination: {host: 42}\n  tcp: {}\n")},
			want: []want{
				{"MESH0701", "spec.hosts", `spec.hosts must be a list, not "reviews"`},
				{"MESH0701", "spec.http[0].route[0].weight", `must be a whole number, not "90"`},
				{"MESH0701", "spec.http[0].route[1].destination.host", "must be a string, not 42"},
				{"MESH0701", "spec.tcp", "must be a list, not an object"},
			}},
		{name: "missing required fields",
			docs: []string{vs("default", "  http:\n  - route:\n    - weight: 100\n"), "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {servers: []}\n"},
			want: []want{
				{"MESH0702", "spec.hosts", "spec.hosts is required"},
				{"MESH0702", "spec.http[0].route[0].destination", "is required"},
				{"MESH0702", "spec.servers", "must not be empty"},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, runCase(t, tc.docs, tc.settings), tc.want)
		})
	}
}

const noWeight = -1 << 30

// reviewWithPolicy writes a user policy to dir and reviews a
// VirtualService routing to the reviews Service with it.
func reviewWithPolicy(t *testing.T, dir, file, policy string) []Finding {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := Parse("vs.yaml", []byte(reviewsService+"---"+vs("default", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n")), "default")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(context.Background(), Options{PolicyDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	fs, err := e.ReviewAll(context.Background(), objs, idx, 1)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestUserPolicies(t *testing.T) {
	dir := t.TempDir()
	policy := `package acme.timeouts

findings contains {"code": "ACME0001", "severity": "warning", "category": "other", "field": sprintf("spec.http[%d]", [i]), "message": "every HTTP route needs a timeout"} if {
	input.kind == "VirtualService"
	some i, r in input.object.spec.http
	not r.timeout
}
`
	fs := reviewWithPolicy(t, dir, "timeouts.rego", policy)
	checkFindings(t, fs, []want{{"ACME0001", "spec.http[0]", "needs a timeout"}})
	if fs[0].Severity != SeverityWarning || fs[0].Category != "other" || fs[0].Line != 9 {
		t.Errorf("finding = %+v", fs[0])
	}

	if _, err := NewEngine(context.Background(), Options{PolicyDirs: []string{t.TempDir()}}); err == nil {
		t.Error("a policy directory without findings rules must be an error")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "bad.rego"), []byte("package x\nfindings contains 1 if {"), 0o644)
	if _, err := NewEngine(context.Background(), Options{PolicyDirs: []string{bad}}); err == nil || !strings.Contains(err.Error(), "bad.rego") {
		t.Errorf("parse error must name the file, got %v", err)
	}
}

func TestReferences(t *testing.T) {
	docs := []string{reviewsService, ingressGateway, reviewsRule,
		vs("default", "  hosts: [\"*\"]\n  gateways: [bookinfo-gateway]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 50\n    - destination: {host: reviews, subset: v2}\n      weight: 50\n")}
	objs, err := Parse("refs.yaml", []byte(strings.Join(docs, "\n---\n")), "default")
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	gw, dr := objs[1], objs[2]
	shrunk, _ := Parse("dr.yaml", []byte(strings.Replace(reviewsRule, "  - {name: v2, labels: {version: v2}}\n", "", 1)), "default")
	grown, _ := Parse("dr.yaml", []byte(strings.Replace(reviewsRule, "  - {name: v2, labels: {version: v2}}\n", "  - {name: v2, labels: {version: v2}}\n  - {name: v3, labels: {version: v3}}\n", 1)), "default")
	cases := []struct {
		name string
		r    Review
		want []want
	}{
		{"update removing a routed subset", Review{Operation: OperationUpdate, Object: shrunk[0], OldObject: dr},
			[]want{{"MESH0601", "spec.subsets", `subset "v2" is removed, but VirtualService default/reviews (spec.http[0].route[1].destination) still route to it`}}},
		{"update adding a subset", Review{Operation: OperationUpdate, Object: grown[0], OldObject: dr}, nil},
		{"delete of a routed DestinationRule", Review{Operation: OperationDelete, OldObject: dr},
			[]want{{"MESH0602", "metadata.name", `subset "v1"`}, {"MESH0602", "metadata.name", `subset "v2"`}}},
		{"delete of a bound Gateway", Review{Operation: OperationDelete, OldObject: gw},
			[]want{{"MESH0604", "metadata.name", "still bound by VirtualService default/reviews"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := e.Review(context.Background(), tc.r, idx)
			if err != nil {
				t.Fatal(err)
			}
			var codes []Finding
			for _, f := range fs {
				if f.Category == "reference" {
					codes = append(codes, f)
				}
			}
			checkFindings(t, codes, tc.want)
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		max  int
		want int
	}{
		{"reviews", "reviews", 2, 0}, {"reveiws", "reviews", 2, 2}, {"review", "reviews", 2, 1},
		{"ratings", "reviews", 2, 3}, {"a", "abcdef", 2, 3}, {"", "ab", 2, 2},
	} {
		if got := editDistance(tc.a, tc.b, tc.max); got != tc.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.max, got, tc.want)
		}
	}
}

func TestReviewAllHonoursCancellation(t *testing.T) {
	objs, err := Parse("c.yaml", []byte(reviewsService+"---"+reviewsRule), "default")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if fs, err := e.ReviewAll(ctx, objs, NewIndex(""), 1); err == nil {
		t.Fatalf("a cancelled review returned %d findings and no error", len(fs))
	}
}

// TestFactGates checks that METADATA custom facts is only accepted when
// every findings rule of the package iterates one of the named lists, so
// skipping the package while they are empty loses nothing.
func TestFactGates(t *testing.T) {
	cases := []struct {
		name, rules string
		facts       []string
		wantErr     string
	}{
		{name: "iteration", facts: []string{"gateways"},
			rules: `findings contains g.key if { some g in input.facts.gateways }`},
		{name: "lookup by index", facts: []string{"missing"},
			rules: `findings contains input.facts.missing[0] if { true }`},
		{name: "one of two lists", facts: []string{"malformed", "missing"},
			rules: "findings contains m.field if { some m in input.facts.malformed }\nfindings contains f if { some f in input.facts.missing }"},
		{name: "a rule that needs no list", facts: []string{"gateways"},
			rules:   "findings contains g.key if { some g in input.facts.gateways }\nfindings contains \"x\" if { input.kind == \"Gateway\" }",
			wantErr: "does not"},
		{name: "only in a negation", facts: []string{"gateways"},
			rules: `findings contains "x" if { not input.facts.gateways[0] }`, wantErr: "does not"},
		{name: "only in a comprehension", facts: []string{"gateways"},
			rules: `findings contains "x" if { count([g | some g in input.facts.gateways]) == 0 }`, wantErr: "does not"},
		{name: "only in every", facts: []string{"gateways"},
			rules: `findings contains "x" if { every g in input.facts.gateways { g.exists } }`, wantErr: "does not"},
		{name: "another list", facts: []string{"gateways"},
			rules: `findings contains d.host if { some d in input.facts.destinations }`, wantErr: "does not"},
		{name: "unknown list", facts: []string{"gateway"},
			rules: `findings contains g.key if { some g in input.facts.gateway }`, wantErr: `"gateway"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ast.ParseModuleWithOpts("gate.rego", "package gate\n"+c.rules, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatal(err)
			}
			compiler := ast.NewCompiler()
			if compiler.Compile(map[string]*ast.Module{"gate.rego": m}); compiler.Failed() {
				t.Fatal(compiler.Errors)
			}
			err = checkFactGates(compiler, "data.gate", c.facts)
			if c.wantErr == "" && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("error = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// TestGatedPackagesSkipped checks that a review whose facts leave every
// built-in package out evaluates nothing, and that the gate does not hide
// findings of gated packages when their facts are there.
func TestGatedPackagesSkipped(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	gw := scope{KindGateway, OperationCreate}
	if mask := e.activePackages(gw, &Facts{}); mask != 0 {
		t.Errorf("a well-formed Gateway on CREATE needs no policy, got packages %b", mask)
	}
	if mask := e.activePackages(gw, &Facts{Missing: []string{"spec.servers"}}); mask == 0 {
		t.Error("a Gateway with a missing field needs the schema policy")
	}
}

func TestAddUnlessPresent(t *testing.T) {
	file, err := Parse("f.yaml", []byte(reviewsService+"---\n"+reviewsRule), "default")
	if err != nil {
		t.Fatal(err)
	}
	live, err := Parse("cluster", []byte(strings.Replace(reviewsService, "9080", "8080", 1)+"---\n"+
		strings.Replace(reviewsRule, "name: reviews", "name: ratings", 1)+"---\n"+
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default, labels: {app: reviews}}\n"), "default")
	if err != nil {
		t.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range file {
		idx.Add(o)
	}
	for _, o := range live {
		idx.AddUnlessPresent(o)
	}
	if p := idx.Service("default", "reviews").Ports; len(p) != 1 || p[0].Number != 9080 {
		t.Errorf("the file's Service must win, got ports %v", p)
	}
	if got := len(idx.DestinationRulesFor("default", "reviews.default.svc.cluster.local")); got != 2 {
		t.Errorf("a cluster DestinationRule of another name must be added: %d rules, want 2", got)
	}
	if _, known := idx.CountWorkloads("default"); !known {
		t.Error("a cluster Pod must be added")
	}
}

// TestMalformedUserFindings checks that results of user policies that are
// not well-formed findings still surface, as errors of category other.
func TestMalformedUserFindings(t *testing.T) {
	dir := t.TempDir()
	policy := `package acme.sloppy

findings contains {"code": 7, "severity": "fatal"} if input.kind == "VirtualService"

findings contains "just text" if input.kind == "VirtualService"
`
	fs := reviewWithPolicy(t, dir, "sloppy.rego", policy)
	var got []string
	for _, f := range fs {
		got = append(got, string(f.Severity)+" "+f.Code+" "+f.Category+" "+f.Message)
	}
	sort.Strings(got)
	want := []string{
		"error MESH0000 other policy finding without a message: just text",
		"error MESH0000 other policy finding without a message: map[code:7 severity:fatal]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHostCacheKeepsTheLatest(t *testing.T) {
	c := newHostCache()
	for i := range hostCacheSize + 10 {
		c.add(hostKey{fqdn: strconv.Itoa(i), namespace: "ns"}, &HostFacts{Resolved: true})
	}
	if len(c.hosts) != hostCacheSize {
		t.Errorf("%d hosts kept, want %d", len(c.hosts), hostCacheSize)
	}
	if c.hosts[hostKey{"9", "ns"}] != nil || c.hosts[hostKey{"10", "ns"}] == nil || c.hosts[hostKey{strconv.Itoa(hostCacheSize + 9), "ns"}] == nil {
		t.Error("the oldest hosts must go first")
	}
}
