package meshgen

import (
	"bufio"
	"math/rand/v2"
	"slices"
	"strings"
)

// Gateway API objects of a fleet (Fleet.Routes): Gateways with listeners
// of several ports, protocols and allowedRoutes, ReferenceGrants between
// team namespaces, and HTTPRoutes bound to those Gateways or to Services
// (mesh routing) whose backendRefs name Services with ports and weights,
// across namespaces with and without a grant. A share of every choice is
// broken: a parent or backend that does not exist, a listener or port
// none has, a listener that does not admit the route, weights adding up
// to 0. They come from a random stream of their own, so the Istio objects
// of a seed are the same with or without them.

const gatewayAPI = "gateway.networking.k8s.io/v1"

type kubeListener struct {
	name, protocol, from string
	port                 int
}

type kubeGateway struct {
	ns, name  string
	listeners []kubeListener
}

type referenceGrant struct {
	ns, name, fromNS string
	// service is the Service the grant names; "" is every Service.
	service string
}

type kubeRoute struct {
	ns, name string
	parents  list
	rules    list
}

// routeGen draws the Gateway API objects of a fleet.
type routeGen struct {
	g *fleetGen
	r *rand.Rand
	// parents are the Services a route may name as parent: those no mesh
	// VirtualService routes for. pilot lets a route bound to a Service
	// take the host over from VirtualServices, which kubectl-mesh reviews
	// each on its own.
	parents  []*service
	gateways []*kubeGateway
	grants   []*referenceGrant
	routes   []*kubeRoute
}

func (rg *routeGen) chance(p float64) bool { return rg.r.Float64() < p }

func pickFrom[T any](rg *routeGen, s []T) T { return s[rg.r.IntN(len(s))] }

func (g *fleetGen) makeGatewayAPI() *routeGen {
	rg := &routeGen{g: g, r: rand.New(rand.NewPCG(g.f.Seed, 0x6777617069))}
	routed := map[string]bool{}
	for _, vs := range g.vss {
		if vs.gateway != nil && !vs.meshToo {
			continue
		}
		for _, h := range vs.hosts {
			if !strings.Contains(h, ".") {
				h += "." + vs.ns + ".svc." + clusterDomain
			}
			routed[h] = true
		}
	}
	for _, s := range g.services {
		if !routed[s.fqdn()] {
			rg.parents = append(rg.parents, s)
		}
	}
	for range 1 + rg.r.IntN(2) {
		ns := pickFrom(rg, g.namespaces)
		gw := &kubeGateway{ns: ns, name: g.uniqueName("KubeGateway", ns, "edge")}
		gw.listeners = append(gw.listeners, kubeListener{name: "http", protocol: "HTTP", port: 80, from: pickFrom(rg, []string{"Same", "Same", "All"})})
		if rg.chance(0.5) {
			gw.listeners = append(gw.listeners, kubeListener{name: "web", protocol: "HTTP", port: 8080, from: "All"})
		}
		if rg.chance(0.2) {
			gw.listeners = append(gw.listeners, kubeListener{name: "tcp", protocol: "TCP", port: 9000, from: "All"})
		}
		rg.gateways = append(rg.gateways, gw)
	}
	for _, ns := range g.namespaces {
		if len(g.namespaces) < 2 || !rg.chance(0.4) {
			continue
		}
		from := pickFrom(rg, slices.DeleteFunc(slices.Clone(g.namespaces), func(n string) bool { return n == ns }))
		gr := &referenceGrant{ns: ns, name: g.uniqueName("ReferenceGrant", ns, "from-"+from), fromNS: from}
		if own := g.byNS[ns]; len(own) > 0 && rg.chance(0.3) {
			gr.service = pickFrom(rg, own).name
		}
		rg.grants = append(rg.grants, gr)
	}
	for range 1 + rg.r.IntN(4) {
		ns := pickFrom(rg, g.namespaces)
		rt := &kubeRoute{ns: ns, name: g.uniqueName("HTTPRoute", ns, "route")}
		// The CRD refuses two parentRefs to one parent unless sectionName
		// or port tell them apart: each parent is named once.
		named := map[string]bool{}
		for range 1 + rg.r.IntN(2) {
			ref := rg.parentRef(ns)
			if k := parentKey(ref); !named[k] {
				named[k] = true
				rt.parents = append(rt.parents, ref)
			}
		}
		for range 1 + rg.r.IntN(2) {
			var refs list
			weighted := rg.chance(0.5)
			for range 1 + rg.r.IntN(3) {
				refs = append(refs, rg.backendRef(ns, weighted))
			}
			rt.rules = append(rt.rules, mapping{{"backendRefs", refs}})
		}
		rg.routes = append(rg.routes, rt)
	}
	return rg
}

// service picks a Service of namespace ns mostly, else of any namespace.
func (rg *routeGen) service(ns string) *service {
	if own := rg.g.byNS[ns]; len(own) > 0 && rg.chance(0.75) {
		return pickFrom(rg, own)
	}
	return pickFrom(rg, rg.g.services)
}

func (rg *routeGen) parentRef(ns string) mapping {
	switch x := rg.r.Float64(); {
	case x < 0.05:
		return mapping{{"name", "gone"}}
	case x < 0.35 && len(rg.parents) > 0:
		// Each Service is the parent of one route at most: of two routes
		// with a rule for every call on the same Service, pilot serves one.
		i := rg.r.IntN(len(rg.parents))
		s := rg.parents[i]
		rg.parents = slices.Delete(rg.parents, i, i+1)
		ref := mapping{{"group", ""}, {"kind", "Service"}, {"name", s.name}}
		if s.ns != ns {
			ref = append(ref, kv{"namespace", s.ns})
		}
		port := pickFrom(rg, s.ports).number
		if rg.chance(0.1) {
			port = 1234
		}
		return append(ref, kv{"port", port})
	}
	gw := pickFrom(rg, rg.gateways)
	ref := mapping{{"name", gw.name}}
	if gw.ns != ns {
		ref = append(ref, kv{"namespace", gw.ns})
	}
	l := pickFrom(rg, gw.listeners)
	switch x := rg.r.Float64(); {
	case x < 0.05:
		ref = append(ref, kv{"sectionName", "nosuch"})
	case x < 0.3:
		ref = append(ref, kv{"sectionName", l.name})
	case x < 0.4:
		ref = append(ref, kv{"port", l.port})
	}
	return ref
}

// parentKey names the object a parentRef refers to.
func parentKey(ref mapping) string {
	k := ""
	for _, e := range ref {
		if e.k == "kind" || e.k == "name" || e.k == "namespace" {
			k += e.k + "=" + e.v.(string) + ";"
		}
	}
	return k
}

var backendWeights = []int{0, 1, 10, 20, 50, 80, 90, 100}

func (rg *routeGen) backendRef(ns string, weighted bool) mapping {
	s := rg.service(ns)
	name := s.name
	if rg.chance(0.05) {
		name = "missing-" + s.name
	}
	ref := mapping{{"name", name}}
	if s.ns != ns {
		ref = append(ref, kv{"namespace", s.ns})
	}
	port := pickFrom(rg, s.ports).number
	if rg.chance(0.1) {
		port = 9999
	}
	ref = append(ref, kv{"port", port})
	if weighted {
		ref = append(ref, kv{"weight", pickFrom(rg, backendWeights)})
	}
	return ref
}

func (rg *routeGen) emit(w *bufio.Writer) {
	emitDocument(w, append(object(gatewayAPI, "GatewayClass", "istio", "", nil, nil), kv{"spec", mapping{{"controllerName", "istio.io/gateway-controller"}}}))
	for _, gw := range rg.gateways {
		var ls list
		for _, l := range gw.listeners {
			ls = append(ls, mapping{{"name", l.name}, {"port", l.port}, {"protocol", l.protocol},
				{"allowedRoutes", mapping{{"namespaces", mapping{{"from", l.from}}}}}})
		}
		emitDocument(w, append(object(gatewayAPI, "Gateway", gw.name, gw.ns, nil, nil), kv{"spec", mapping{{"gatewayClassName", "istio"}, {"listeners", ls}}}))
	}
	for _, gr := range rg.grants {
		to := mapping{{"group", ""}, {"kind", "Service"}}
		if gr.service != "" {
			to = append(to, kv{"name", gr.service})
		}
		emitDocument(w, append(object("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", gr.name, gr.ns, nil, nil), kv{"spec", mapping{
			{"from", list{mapping{{"group", "gateway.networking.k8s.io"}, {"kind", "HTTPRoute"}, {"namespace", gr.fromNS}}}},
			{"to", list{to}},
		}}))
	}
	for _, rt := range rg.routes {
		emitDocument(w, append(object(gatewayAPI, "HTTPRoute", rt.name, rt.ns, nil, nil), kv{"spec", mapping{{"parentRefs", rt.parents}, {"rules", rt.rules}}}))
	}
}
