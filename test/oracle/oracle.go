package oracle

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/util"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/visibility"
)

// BlackHole is the cluster pilot sends traffic to when it has nowhere to
// send it.
const BlackHole = "BlackHoleCluster"

// Proxy names where a call starts: a sidecar in a namespace, or the proxy
// of a Gateway.
type Proxy struct {
	Namespace string
	// Gateway is namespace/name of the Gateway whose proxy this is; empty
	// for a sidecar.
	Gateway string
}

func (p Proxy) String() string {
	if p.Gateway != "" {
		return "gateway " + p.Gateway
	}
	return "sidecar in " + p.Namespace
}

// Destination is one route destination (or mirror) as one proxy's Envoy
// config has it.
type Destination struct {
	Proxy   Proxy
	Field   string // spec.http[i].route[j].destination, spec.http[i].mirror, ...
	Cluster string
	Weight  uint32
	Exists  bool
}

// Broken says why traffic at one place of a VirtualService fails.
type Broken struct {
	Field  string
	Reason string
}

// VirtualService is what pilot made of one VirtualService.
type VirtualService struct {
	Namespace, Name string
	// Proxies the VirtualService should reach: a sidecar in each
	// namespace it is exported to (when bound to mesh), and the proxy of
	// each bound Gateway that exists.
	Proxies []Proxy
	// Applied tells, per proxy, which HTTP routes (by index) reached it.
	Applied map[Proxy]map[int]bool
	// Destinations as Envoy has them, every proxy.
	Destinations []Destination
	// Broken lists each place whose traffic fails, with the reason.
	Broken []Broken
}

// Verdict is the oracle's answer for a mesh.
type Verdict struct {
	VirtualServices []*VirtualService
	// Sims are the simulations of every proxy built, for callers that
	// look deeper (timeouts, retries, circuit breakers).
	Sims map[Proxy]*simulation.Simulation
	// server is pilot's, for Routes.
	server *xds.FakeDiscoveryServer
}

// Find returns the verdict of one VirtualService.
func (v *Verdict) Find(namespace, name string) *VirtualService {
	for _, vs := range v.VirtualServices {
		if vs.Namespace == namespace && vs.Name == name {
			return vs
		}
	}
	return nil
}

// Evaluate runs pilot over the mesh and traces every VirtualService.
// NewSimulation insists on a real *testing.T.
func Evaluate(t *testing.T, m *Mesh) *Verdict {
	t.Helper()
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{Configs: m.Configs, KubernetesObjectString: m.Kube})
	v := &Verdict{Sims: map[Proxy]*simulation.Simulation{}, server: s}
	sim := func(p Proxy) *simulation.Simulation {
		if got, ok := v.Sims[p]; ok {
			return got
		}
		proxy := &model.Proxy{ConfigNamespace: p.Namespace, Metadata: &model.NodeMetadata{Namespace: p.Namespace}}
		if p.Gateway != "" {
			gw, _ := m.gateway(splitRef(p.Gateway))
			labels := gatewaySelector(gw)
			proxy.Type = model.Router
			proxy.Labels = labels
			proxy.Metadata.Labels = labels
			proxy.ID = "gateway." + p.Namespace
		}
		got := simulation.NewSimulation(t, s, s.SetupProxy(proxy))
		v.Sims[p] = got
		return got
	}
	for _, c := range m.virtualServices() {
		vs := &VirtualService{Namespace: c.Namespace, Name: c.Name, Applied: map[Proxy]map[int]bool{}}
		spec := vsSpec(c)
		var missingGateways []int
		for i, g := range gatewaysOf(spec) {
			if g == "mesh" {
				for _, ns := range exportedTo(spec, c.Namespace, m.Namespaces) {
					vs.Proxies = append(vs.Proxies, Proxy{Namespace: ns})
				}
				continue
			}
			ns, name := resolveGateway(g, c.Namespace)
			if _, ok := m.gateway(ns, name); !ok {
				missingGateways = append(missingGateways, i)
				continue
			}
			vs.Proxies = append(vs.Proxies, Proxy{Namespace: RootNamespace, Gateway: ns + "/" + name})
		}
		for _, p := range vs.Proxies {
			trace(vs, c, p, sim(p), m.HostPorts)
		}
		judge(vs, spec, missingGateways)
		v.VirtualServices = append(v.VirtualServices, vs)
	}
	return v
}

// trace walks one proxy's routes and keeps those built from the
// VirtualService c.
func trace(vs *VirtualService, c config.Config, p Proxy, sim *simulation.Simulation, hostPorts map[string]map[string]bool) {
	clusters := map[string]*cluster.Cluster{}
	for _, cl := range sim.Clusters {
		clusters[cl.Name] = cl
	}
	want := "/namespaces/" + c.Namespace + "/virtual-service/" + c.Name
	spec := vsSpec(c)
	applied := map[int]bool{}
	seen := map[string]bool{}
	for _, rc := range sim.Routes {
		for _, vh := range rc.VirtualHosts {
			if p.Gateway == "" && !callable(vh.Name, hostPorts) {
				continue
			}
			for _, r := range vh.Routes {
				if !strings.HasSuffix(configOf(r), want) {
					continue
				}
				i, ok := routeIndex(r.Name)
				if !ok || i >= len(spec.Http) {
					continue
				}
				applied[i] = true
				action := r.GetRoute()
				if action == nil {
					continue
				}
				add := func(field, name string, weight uint32) {
					key := rc.Name + "|" + field + "|" + name
					if seen[key] {
						return
					}
					seen[key] = true
					_, exists := clusters[name]
					vs.Destinations = append(vs.Destinations, Destination{
						Proxy: p, Field: field, Cluster: name, Weight: weight, Exists: exists && name != BlackHole,
					})
				}
				in := spec.Http[i]
				if wc := action.GetWeightedClusters(); wc != nil {
					j := 0
					for _, w := range wc.Clusters {
						// pilot drops zero weights from a route of several
						// destinations; the rest keep their order.
						for j < len(in.Route) && in.Route[j].Weight == 0 {
							j++
						}
						add(fmt.Sprintf("spec.http[%d].route[%d].destination", i, j), w.Name, w.GetWeight().GetValue())
						j++
					}
				} else if name := action.GetCluster(); name != "" {
					add(fmt.Sprintf("spec.http[%d].route[0].destination", i), name, 100)
				}
				mirrors := action.RequestMirrorPolicies
				for k, mp := range mirrors {
					field := fmt.Sprintf("spec.http[%d].mirrors[%d].destination", i, k)
					if in.Mirror != nil {
						field = fmt.Sprintf("spec.http[%d].mirror", i)
					}
					add(field, mp.Cluster, 0)
				}
			}
		}
	}
	vs.Applied[p] = applied
}

// judge turns what was traced into the places that break.
func judge(vs *VirtualService, spec *networking.VirtualService, missingGateways []int) {
	broken := map[string]string{}
	for _, d := range vs.Destinations {
		if !d.Exists && broken[d.Field] == "" {
			what := "does not exist"
			if d.Cluster == BlackHole {
				what = "is the black hole"
			}
			broken[d.Field] = fmt.Sprintf("from the %s the call ends in cluster %s, which %s", d.Proxy, d.Cluster, what)
		}
	}
	for _, i := range missingGateways {
		broken["spec.gateways"] = fmt.Sprintf("Gateway %s does not exist, so pilot drops the binding", gatewaysOf(spec)[i])
	}
	for _, p := range vs.Proxies {
		if p.Gateway != "" && len(vs.Applied[p]) == 0 && len(spec.Http) > 0 && broken["spec.gateways"] == "" {
			broken["spec.gateways"] = fmt.Sprintf("no route of this VirtualService reaches the proxy of Gateway %s", p.Gateway)
		}
	}
	vs.Broken = brokenByField(broken)
}

// brokenByField lists the broken places (reason by field) in field order.
func brokenByField(broken map[string]string) []Broken {
	fields := make([]string, 0, len(broken))
	for f := range broken {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	out := make([]Broken, 0, len(fields))
	for _, f := range fields {
		out = append(out, Broken{Field: f, Reason: broken[f]})
	}
	return out
}

// callable reports whether a sidecar's virtual host "host:port" is one a
// call can reach: a port of the Service or ServiceEntry that host is, or
// port 80 for a host nothing in the mesh provides (pilot's fallback for
// such hosts). pilot also puts a VirtualService for a Service on the
// port-80 routes when the Service has no port 80, or when the sidecar does
// not see the Service (exportTo); no call to the Service goes there.
func callable(virtualHost string, servicePorts map[string]map[string]bool) bool {
	i := strings.LastIndex(virtualHost, ":")
	if i < 0 {
		return true
	}
	host, port := virtualHost[:i], virtualHost[i+1:]
	ports, known := servicePorts[host]
	if !known {
		return port == "80"
	}
	return ports[port]
}

func configOf(r *route.Route) string {
	md := r.GetMetadata().GetFilterMetadata()[util.IstioMetadataKey]
	if md == nil {
		return ""
	}
	return md.GetFields()["config"].GetStringValue()
}

// routeIndex reads i from a route named r<i> or r<i>.<match name>.
func routeIndex(name string) (int, bool) {
	if !strings.HasPrefix(name, "r") {
		return 0, false
	}
	name = strings.SplitN(name[1:], ".", 2)[0]
	i, err := strconv.Atoi(name)
	return i, err == nil
}

func gatewaysOf(spec *networking.VirtualService) []string {
	if len(spec.Gateways) == 0 {
		return []string{"mesh"}
	}
	return spec.Gateways
}

func resolveGateway(ref, vsNamespace string) (string, string) {
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		return ns, name
	}
	// A Gateway named ns.name or name.ns.svc... is rare; a short name is
	// in the VirtualService's namespace.
	return vsNamespace, ref
}

func splitRef(ref string) (string, string) {
	ns, name, _ := strings.Cut(ref, "/")
	return ns, name
}

func gatewaySelector(c config.Config) map[string]string {
	if gw, ok := c.Spec.(*networking.Gateway); ok {
		return gw.Selector
	}
	return nil
}

// Elsewhere is a namespace no manifest names: exported to all, a
// VirtualService reaches namespaces created later too.
const Elsewhere = "oracle-elsewhere"

// exportedTo lists the namespaces of the mesh a VirtualService reaches.
func exportedTo(spec *networking.VirtualService, own string, mentioned []string) []string {
	all := append(append([]string{}, mentioned...), Elsewhere)
	if len(spec.ExportTo) == 0 {
		return all
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range spec.ExportTo {
		switch visibility.Instance(e) {
		case visibility.Public:
			return all
		case visibility.Private:
			if !seen[own] {
				out = append(out, own)
				seen[own] = true
			}
		case visibility.None:
		default:
			if !seen[e] {
				out = append(out, e)
				seen[e] = true
			}
		}
	}
	sort.Strings(out)
	return out
}
