package oracle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	httpopts "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"istio.io/istio/pilot/pkg/simulation"
	"sigs.k8s.io/yaml"
)

// The objects kubectl-mesh writes for the tutorial's steps are its golden
// files (plugin/testdata/golden, which the plugin's tests keep equal to
// what the commands apply). Here pilot turns them into Envoy config, and
// the config must do what the step promises.

// golden reads one of the plugin's golden files.
func golden(t *testing.T, name string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "plugin", "testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".json") {
		if b, err = yaml.JSONToYAML(b); err != nil {
			t.Fatal(err)
		}
	}
	return string(b)
}

// withHosts gives a VirtualService the hosts it has in the cluster: the
// timeout and retry goldens are the changes merged into an existing one.
func withHosts(t *testing.T, doc string, hosts ...string) string {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	spec := obj["spec"].(map[string]any)
	if _, ok := spec["hosts"]; !ok {
		h := make([]any, len(hosts))
		for i, s := range hosts {
			h[i] = s
		}
		spec["hosts"] = h
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func canaryApp() string {
	return docs(namespace("default"), namespace("istio-system"), `apiVersion: v1
kind: Service
metadata: {name: canary, namespace: default}
spec:
  selector: {apply: canary}
  ports: [{name: http, port: 80}]
`, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: canary-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
`)
}

func resilienceApps() string {
	return docs(namespace("default"), namespace("istio-system"),
		service("default/httpbin", "http:8000"),
		service("default/nginx-svc", "http:80"),
		service("default/tomcat-svc", "http:8080"))
}

func evaluate(t *testing.T, manifest string) *Verdict {
	t.Helper()
	m, err := Parse([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	return Evaluate(t, m)
}

// routeFor runs a call through a sidecar in default and returns the Envoy
// route it matched.
func routeFor(t *testing.T, sim *simulation.Simulation, host string, port int) *route.Route {
	t.Helper()
	res := sim.Run(simulation.Call{Address: "10.0.0.1", Port: port, HostHeader: host, Protocol: simulation.HTTP, CallMode: simulation.CallModeOutbound})
	if res.Error != nil {
		t.Fatalf("call to %s:%d: %v", host, port, res.Error)
	}
	for _, rc := range sim.Routes {
		if rc.Name != res.RouteConfigMatched {
			continue
		}
		for _, vh := range rc.VirtualHosts {
			if vh.Name != res.VirtualHostMatched {
				continue
			}
			for _, r := range vh.Routes {
				if r.Name == res.RouteMatched {
					return r
				}
			}
		}
	}
	t.Fatalf("call to %s:%d matched route %q of %s, not found", host, port, res.RouteMatched, res.RouteConfigMatched)
	return nil
}

func TestCanaryWeights(t *testing.T) {
	const v1, v2 = "outbound|80|v1|canary.default.svc.cluster.local", "outbound|80|v2|canary.default.svc.cluster.local"
	set := golden(t, "canary-set-gateway.yaml")
	cases := []struct {
		name string
		// objects written by the step, over those of canary set.
		objects []string
		want    map[string]uint32
	}{
		{"set 90/10", []string{set}, map[string]uint32{v1: 90, v2: 10}},
		{"step to 70/30", []string{set, golden(t, "canary-step.yaml")}, map[string]uint32{v1: 70, v2: 30}},
		{"promote with prune", []string{golden(t, "canary-promote-prune.yaml")}, map[string]uint32{v2: 100}},
		{"rollback to 90/10", []string{set, golden(t, "canary-rollback.json")}, map[string]uint32{v1: 90, v2: 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A later object replaces an earlier one of the same kind and name.
			latest := map[string]string{}
			var order []string
			for _, objs := range tc.objects {
				for _, doc := range splitDocs(objs) {
					var meta struct {
						Kind string `json:"kind"`
					}
					if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
						t.Fatal(err)
					}
					if _, seen := latest[meta.Kind]; !seen {
						order = append(order, meta.Kind)
					}
					latest[meta.Kind] = doc
				}
			}
			manifest := canaryApp()
			for _, k := range order {
				manifest = docs(manifest, latest[k])
			}
			v := evaluate(t, manifest)
			vs := v.Find("default", "canary")
			if vs == nil || len(vs.Broken) > 0 {
				t.Fatalf("canary VirtualService: %+v", vs)
			}
			got := map[string]uint32{}
			for _, d := range vs.Destinations {
				if d.Proxy.Gateway != "default/canary-gateway" {
					t.Errorf("route at %s; the canary is bound to its gateway only", d.Proxy)
				}
				if !d.Exists {
					t.Errorf("cluster %s does not exist", d.Cluster)
				}
				got[d.Cluster] = d.Weight
			}
			if len(got) != len(tc.want) {
				t.Errorf("weighted clusters %v, want %v", got, tc.want)
			}
			for c, w := range tc.want {
				if got[c] != w {
					t.Errorf("weight of %s: got %d, want %d (all: %v)", c, got[c], w, got)
				}
			}
		})
	}
}

func TestResilienceRoutes(t *testing.T) {
	manifest := docs(resilienceApps(),
		withHosts(t, golden(t, "resilience-timeout.yaml"), "nginx-svc"),
		golden(t, "resilience-fault-delay.yaml"))
	v := evaluate(t, manifest)
	sim := v.Sims[Proxy{Namespace: "default"}]
	r := routeFor(t, sim, "nginx-svc", 80)
	if got := r.GetRoute().GetTimeout().AsDuration(); got != 2*time.Second {
		t.Errorf("nginx-svc route timeout %v, want 2s", got)
	}
	if c := r.GetRoute().GetCluster(); c != "outbound|80||nginx-svc.default.svc.cluster.local" {
		t.Errorf("nginx-svc routes to %s", c)
	}
	f := faultOf(t, routeFor(t, sim, "tomcat-svc", 8080))
	if d := f.GetDelay(); d.GetFixedDelay().AsDuration() != 10*time.Second || !always(d.GetPercentage().GetNumerator(), d.GetPercentage().GetDenominator().String()) {
		t.Errorf("tomcat-svc delay %v, want 10s at 100%%", d)
	}

	retry := evaluate(t, docs(resilienceApps(),
		withHosts(t, golden(t, "resilience-retry.yaml"), "nginx-svc"),
		golden(t, "resilience-fault-abort.json")))
	sim = retry.Sims[Proxy{Namespace: "default"}]
	policy := routeFor(t, sim, "nginx-svc", 80).GetRoute().GetRetryPolicy()
	if policy.GetNumRetries().GetValue() != 3 || policy.GetPerTryTimeout().AsDuration() != 2*time.Second {
		t.Errorf("nginx-svc retry policy %v, want 3 retries of 2s", policy)
	}
	f = faultOf(t, routeFor(t, sim, "tomcat-svc", 8080))
	if a := f.GetAbort(); a.GetHttpStatus() != 503 || !always(a.GetPercentage().GetNumerator(), a.GetPercentage().GetDenominator().String()) {
		t.Errorf("tomcat-svc abort %v, want 503 at 100%%", a)
	}
}

func TestCircuitBreaker(t *testing.T) {
	v := evaluate(t, docs(resilienceApps(), golden(t, "resilience-circuit-breaker.yaml"), `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {host: httpbin}
`))
	sim := v.Sims[Proxy{Namespace: "default"}]
	var c *cluster.Cluster
	for _, cl := range sim.Clusters {
		if cl.Name == "outbound|8000||httpbin.default.svc.cluster.local" {
			c = cl
		}
	}
	if c == nil {
		t.Fatal("no cluster for httpbin")
	}
	th := c.GetCircuitBreakers().GetThresholds()
	if len(th) == 0 || th[0].GetMaxConnections().GetValue() != 1 || th[0].GetMaxPendingRequests().GetValue() != 1 {
		t.Errorf("circuit breakers %v, want max connections 1 and max pending requests 1", th)
	}
	var opts httpopts.HttpProtocolOptions
	raw := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if raw == nil || raw.UnmarshalTo(&opts) != nil || opts.GetCommonHttpProtocolOptions().GetMaxRequestsPerConnection().GetValue() != 1 {
		t.Errorf("max requests per connection: %v, want 1", opts.GetCommonHttpProtocolOptions())
	}
	od := c.GetOutlierDetection()
	if od.GetConsecutiveGatewayFailure().GetValue() != 1 || od.GetInterval().AsDuration() != time.Second ||
		od.GetBaseEjectionTime().AsDuration() != 3*time.Minute || od.GetMaxEjectionPercent().GetValue() != 100 {
		t.Errorf("outlier detection %v, want 1 gateway error, 1s, 3m, 100%%", od)
	}
}

func faultOf(t *testing.T, r *route.Route) *fault.HTTPFault {
	t.Helper()
	var f fault.HTTPFault
	raw := r.GetTypedPerFilterConfig()["envoy.filters.http.fault"]
	if raw == nil || raw.UnmarshalTo(&f) != nil {
		t.Fatalf("route %s has no fault config", r.Name)
	}
	return &f
}

// always reports whether a fractional percent is 100%.
func always(numerator uint32, denominator string) bool {
	switch denominator {
	case "HUNDRED":
		return numerator == 100
	case "TEN_THOUSAND":
		return numerator == 10000
	case "MILLION":
		return numerator == 1000000
	}
	return false
}
