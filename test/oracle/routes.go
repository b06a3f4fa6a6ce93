package oracle

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	gwkube "istio.io/istio/pkg/config/gateway/kube"
	"istio.io/istio/pkg/config/schema/gvk"
)

// GatewayAPIGroup is the API group of Kubernetes Gateway API objects.
const GatewayAPIGroup = "gateway.networking.k8s.io"

// Route is what pilot made of one Gateway API route: the places of it
// whose traffic fails, by field ("spec.parentRefs[0]",
// "spec.rules[0].backendRefs[1]", "spec.rules[0].backendRefs").
type Route struct {
	Kind, Namespace, Name string
	Broken                []Broken
	// Bound: pilot generated routes of it for some parent. When it
	// generated none, no call reaches its backends, and they are not
	// judged.
	Bound bool
}

// EvaluateRoutes runs pilot over the mesh and judges every HTTPRoute from
// what its gateway controller generates: the VirtualServices pilot builds
// from the route (one HTTP route per rule, named namespace.name.index), the
// Gateway listeners they are bound to, the sidecar virtual hosts that carry
// a mesh route, and whether each destination's cluster exists for a
// sidecar of the route's namespace.
func EvaluateRoutes(t *testing.T, m *Mesh) []*Route {
	t.Helper()
	return evaluateRoutesOn(t, xds.NewFakeDiscoveryServer(t, xds.FakeOptions{Configs: m.Configs, KubernetesObjectString: m.Kube}), m)
}

// Routes is EvaluateRoutes on the discovery server Evaluate built for
// the same mesh: starting one costs more than judging the routes.
func (v *Verdict) Routes(t *testing.T, m *Mesh) []*Route {
	t.Helper()
	return evaluateRoutesOn(t, v.server, m)
}

func evaluateRoutesOn(t *testing.T, s *xds.FakeDiscoveryServer, m *Mesh) []*Route {
	t.Helper()
	gwc := s.Env().GatewayAPIController
	// The controller's collections settle after the first push; HasSynced
	// says when the objects of the fake client have all been translated.
	deadline := time.Now().Add(10 * time.Second)
	for !gwc.HasSynced() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	generated := gwc.List(gvk.VirtualService, "")
	sims := map[string]*simulation.Simulation{}
	simOf := func(ns string) *simulation.Simulation {
		if got, ok := sims[ns]; ok {
			return got
		}
		sims[ns] = simulation.NewSimulation(t, s, s.SetupProxy(&model.Proxy{ConfigNamespace: ns, Metadata: &model.NodeMetadata{Namespace: ns}}))
		return sims[ns]
	}
	clusters := map[string]map[string]bool{}
	clustersOf := func(ns string) map[string]bool {
		if got, ok := clusters[ns]; ok {
			return got
		}
		set := map[string]bool{}
		for _, c := range simOf(ns).Clusters {
			set[c.Name] = true
		}
		clusters[ns] = set
		return set
	}
	var out []*Route
	for _, doc := range m.Routes {
		r := &Route{Kind: doc.Kind, Namespace: doc.Namespace, Name: doc.Name}
		broken := map[string]string{}
		prefix := doc.Namespace + "." + doc.Name + "."
		// bound holds the gateways ("mesh" or ns/internal name) of the
		// VirtualServices carrying a rule of this route.
		bound := map[string]bool{}
		rules := listAt(doc.Spec, "rules")
		for _, c := range generated {
			vs, _ := c.Spec.(*networking.VirtualService)
			if vs == nil {
				continue
			}
			for _, h := range vs.Http {
				if !strings.HasPrefix(h.Name, prefix) {
					continue
				}
				i, err := strconv.Atoi(strings.TrimPrefix(h.Name, prefix))
				if err != nil || i >= len(rules) {
					continue
				}
				for _, g := range vs.Gateways {
					bound[g] = true
				}
				judgeRule(broken, i, rules[i], h, clustersOf(doc.Namespace))
			}
		}
		// A mesh route is applied where a sidecar's callable virtual host
		// of the Service carries one of its rules.
		served := map[string]bool{}
		for _, rc := range simOf(doc.Namespace).Routes {
			for _, vh := range rc.VirtualHosts {
				if !callable(vh.Name, m.HostPorts) {
					continue
				}
				for _, r := range vh.Routes {
					if strings.HasPrefix(r.Name, prefix) {
						host, _, _ := strings.Cut(vh.Name, ":")
						served[host], served[vh.Name] = true, true
					}
				}
			}
		}
		r.Bound = len(bound) > 0
		for j, p := range listAt(doc.Spec, "parentRefs") {
			if !parentBound(p, doc.Namespace, bound, served) {
				broken[fmt.Sprintf("spec.parentRefs[%d]", j)] = "pilot binds no rule of the route to this parent"
			}
		}
		r.Broken = brokenByField(broken)
		out = append(out, r)
	}
	return out
}

// judgeRule marks the backendRefs of rule i whose cluster does not exist.
// pilot leaves weight-0 backendRefs out (the others keep their order), and
// answers 500 itself when no backendRef has weight.
func judgeRule(broken map[string]string, i int, rule any, h *networking.HTTPRoute, clusters map[string]bool) {
	refs := listAt(asMap(rule), "backendRefs")
	if h.DirectResponse != nil && h.DirectResponse.Status == 500 && len(refs) > 0 {
		broken[fmt.Sprintf("spec.rules[%d].backendRefs", i)] = "no backendRef has weight, pilot answers 500"
		return
	}
	j := 0
	for _, d := range h.Route {
		for j < len(refs) && weightOf(refs[j]) == 0 {
			j++
		}
		name := fmt.Sprintf("outbound|%d||%s", d.GetDestination().GetPort().GetNumber(), d.GetDestination().GetHost())
		if !clusters[name] {
			broken[fmt.Sprintf("spec.rules[%d].backendRefs[%d]", i, j)] = fmt.Sprintf("the call ends in cluster %s, which does not exist", name)
		}
		j++
	}
}

// parentBound reports whether pilot bound some rule of the route to the
// parent p: for a Gateway, one of its listeners (the one sectionName
// names); for a Service, a sidecar's virtual host of the Service (of the
// port the parentRef names) that carries a rule of the route (served,
// by host and by host:port).
func parentBound(p any, routeNS string, bound, served map[string]bool) bool {
	pm := asMap(p)
	name, _ := pm["name"].(string)
	ns, _ := pm["namespace"].(string)
	if ns == "" {
		ns = routeNS
	}
	kind, _ := pm["kind"].(string)
	if kind == "Service" {
		host := name + "." + ns + ".svc." + ClusterDomain
		if port, ok := pm["port"]; ok {
			// A port binds the route to that port's virtual host only.
			host += fmt.Sprintf(":%v", port)
		}
		return bound["mesh"] && served[host]
	}
	section, _ := pm["sectionName"].(string)
	want := ns + "/" + gwkube.InternalGatewayName(name, section)
	for g := range bound {
		if g == want || (section == "" && strings.HasPrefix(g, want)) {
			return true
		}
	}
	return false
}

func weightOf(ref any) int64 {
	switch w := asMap(ref)["weight"].(type) {
	case int64:
		return w
	case float64:
		return int64(w)
	case int:
		return int64(w)
	}
	return 1
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listAt(m map[string]any, key string) []any {
	l, _ := m[key].([]any)
	return l
}

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

// CompareRoutes lists where the product's breakage errors on HTTPRoutes
// differ from pilot's verdict on them.
func CompareRoutes(routes []*Route, findings []Finding) []Disagreement {
	product := map[Site][]string{}
	for _, f := range findings {
		if f.Kind != "HTTPRoute" || f.Severity != "error" || !RouteBreakageCodes[f.Code] {
			continue
		}
		if m := routeSiteField.FindString(f.Field); m != "" {
			s := Site{f.Namespace, f.Name, m}
			product[s] = append(product[s], f.Code+" "+f.Message)
		}
	}
	oracle := map[Site]string{}
	for _, r := range routes {
		if !r.Bound {
			// pilot judged no backend of it: kubectl-mesh's findings there
			// are right or wrong beyond what pilot shows.
			for site := range product {
				if site.Namespace == r.Namespace && site.Name == r.Name && strings.HasPrefix(site.Field, "spec.rules") {
					delete(product, site)
				}
			}
		}
		for _, b := range r.Broken {
			oracle[Site{r.Namespace, r.Name, b.Field}] = b.Reason
		}
	}
	return disagreements(oracle, product)
}
