package policies

import (
	"sort"
	"strings"
)

// Where a VirtualService's routes end up, as pilot builds them: on which
// listener ports (a destination without a port is sent to the listener's
// port), and in which namespaces' sidecars (exportTo), where its
// destination hosts and DestinationRules may resolve otherwise than in its
// own namespace. test/oracle holds these facts against pilot itself.

// meshBound reports whether sidecars take the VirtualService: it names no
// gateways in spec.gateways, or names "mesh" there.
func meshBound(shape *Shape) bool {
	bound := false
	for _, g := range shape.Gateways {
		if !strings.HasPrefix(g.Field, "spec.gateways[") {
			continue // a match's gateways narrow a route, not the binding
		}
		if g.Name == MeshGateway {
			return true
		}
		bound = true
	}
	return !bound
}

// nonHTTPPrefixes are the port-name protocols (Istio's protocol selection)
// whose listeners carry no HTTP routes: a sidecar passes HTTPS through as
// TLS.
var nonHTTPPrefixes = map[string]bool{"tcp": true, "tls": true, "https": true, "mongo": true, "mysql": true, "redis": true, "udp": true}

// carriesHTTPRoutes reports whether a sidecar's listener for port p of a
// Service or ServiceEntry serves HTTP routes.
func carriesHTTPRoutes(kind string, p ServicePort) bool {
	proto := strings.ToLower(p.Protocol)
	if kind == KindServiceEntry {
		return !nonHTTPPrefixes[proto]
	}
	if proto == "udp" || proto == "sctp" {
		return false
	}
	prefix, _, _ := strings.Cut(strings.ToLower(p.Name), "-")
	return !nonHTTPPrefixes[prefix]
}

// gatewayServesHTTP reports whether a Gateway server terminates HTTP, so
// that HTTP routes of bound VirtualServices are served on its port.
func gatewayServesHTTP(srv GatewayServer) bool {
	switch strings.ToUpper(srv.Protocol) {
	case "HTTP", "HTTP2", "GRPC":
		return true
	case "HTTPS":
		mode := strings.ToUpper(srv.TLSMode)
		return mode != "PASSTHROUGH" && mode != "AUTO_PASSTHROUGH"
	}
	return false
}

// listenerPorts lists the ports the VirtualService's HTTP routes are served
// on: every HTTP port of the Services and ServiceEntries its hosts resolve
// to, when sidecars take it, and the port of every server of a bound
// Gateway that takes one of its hosts.
func listenerPorts(ns string, shape *Shape, mesh bool, inv Inventory, s Settings, cache *hostCache) []ListenerPort {
	var out []ListenerPort
	seen := map[int64]bool{}
	seenSidecar := map[int64]bool{}
	add := func(n int64, via string, sidecar bool) {
		if sidecar {
			if !seenSidecar[n] {
				seenSidecar[n] = true
				out = append(out, ListenerPort{Number: n, Via: via, Sidecar: true})
			}
		} else if !seen[n] {
			seen[n] = true
			out = append(out, ListenerPort{Number: n, Via: via})
		}
	}
	if mesh {
		for _, lp := range sidecarListeners(ns, ns, shape, inv, s, func(fqdn string) *HostFacts { return cache.hostFacts(fqdn, ns, inv, s) }) {
			add(lp.Number, lp.Via, true)
		}
	}
	for _, ref := range shape.Gateways {
		if ref.Name == MeshGateway || !strings.HasPrefix(ref.Field, "spec.gateways[") {
			continue
		}
		gwNS, gwName, _ := strings.Cut(GatewayKey(ref.Name, ns), "/")
		gw := inv.Gateway(gwNS, gwName)
		if gw == nil || !ExportedTo(shape.ExportTo, ns, gwNS) {
			continue
		}
		for _, srv := range gw.Servers {
			if !gatewayServesHTTP(srv) {
				continue
			}
			for _, h := range shape.Hosts {
				if gatewayAccepts(&Gateway{Namespace: gw.Namespace, Servers: []GatewayServer{srv}}, ns, ResolveHost(h, ns, s.ClusterDomain)) {
					add(srv.Port, "Gateway "+key(gwNS, gwName), false)
					break
				}
			}
		}
	}
	return out
}

// sidecarListeners lists the ports on which sidecars of one namespace
// serve the VirtualService of namespace ns: the HTTP ports of each host
// they resolve (resolve gives their view of a host), and port 80, where
// some Service or ServiceEntry has an HTTP port 80, for a host they do not
// resolve: pilot serves such hosts on that listener. A Service they do not
// see but that exists without port 80 is left out: no call to it is made
// on port 80.
func sidecarListeners(ns, client string, shape *Shape, inv Inventory, s Settings, resolve func(fqdn string) *HostFacts) []ListenerPort {
	var out []ListenerPort
	seen := map[int64]bool{}
	add := func(n int64, via string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, ListenerPort{Number: n, Via: via, Sidecar: true})
		}
	}
	for _, h := range shape.Hosts {
		if strings.Contains(h, "*") {
			continue
		}
		fqdn := ResolveHost(h, ns, s.ClusterDomain)
		hf := resolve(fqdn)
		if hf.Resolved {
			for _, p := range hf.Ports {
				if carriesHTTPRoutes(hf.Kind, p) {
					add(p.Number, hf.Kind+" "+hf.Name)
				}
			}
			continue
		}
		if !inv.HTTPPortServed(80, client) {
			continue
		}
		switch ports, known := portsAnywhere(fqdn, inv, s); {
		case !known:
			add(80, "sidecars, for host "+h+", which no Service or ServiceEntry provides")
		case ports[80]:
			add(80, "sidecars, for host "+h+", which they do not see")
		}
	}
	return out
}

// portsAnywhere returns the port numbers of the Service or ServiceEntries
// that provide fqdn in any namespace, and whether any does.
func portsAnywhere(fqdn string, inv Inventory, s Settings) (map[int64]bool, bool) {
	ports := map[int64]bool{}
	known := false
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil {
			known = true
			for _, p := range svc.Ports {
				ports[p.Number] = true
			}
		}
	}
	for _, se := range inv.ServiceEntriesForHost(fqdn) {
		if namesHost(se, fqdn) {
			known = true
			for _, p := range se.Ports {
				ports[p.Number] = true
			}
		}
	}
	return ports, known
}

// otherNamespace stands for any namespace no object under consideration
// names: with exportTo "*" sidecars everywhere take the VirtualService, and
// all namespaces that no exportTo list or DestinationRule singles out see
// a host alike.
const otherNamespace = "\x00other"

// reachFacts resolves the destination hosts from every namespace, other
// than its own, that the VirtualService is exported to, and keeps those
// namespaces that see a host otherwise than its own namespace does: the
// host hidden from them, or another DestinationRule (other subsets)
// applied there. Only hosts that resolve in the VirtualService's own
// namespace are looked at; the others are reported already.
// ownListeners are the sidecar listener ports of the VirtualService's own
// namespace (those of listenerPorts).
func reachFacts(ns string, shape *Shape, own map[string]*HostFacts, ownListeners []ListenerPort, inv Inventory, s Settings) []ReachFacts {
	if exportedNowhereElse(shape.ExportTo, ns) {
		return nil
	}
	hosts := make([]string, 0, len(own))
	for h, f := range own {
		if f.Resolved {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	sort.Strings(hosts)
	var out []ReachFacts
	r := newReachResolver(inv, s)
	for _, client := range reachNamespaces(ns, shape, own, hosts, inv, s) {
		listeners := sidecarListeners(ns, client, shape, inv, s, func(fqdn string) *HostFacts { return r.resolve(fqdn, client, false) })
		if len(listeners) == 0 {
			continue // its sidecars serve none of the hosts
		}
		var differ map[string]*HostFacts
		for _, h := range hosts {
			f := r.resolve(own[h].FQDN, client, true)
			if sameRouting(f, own[h]) {
				continue
			}
			if differ == nil {
				differ = map[string]*HostFacts{}
			}
			differ[h] = f
		}
		sameListeners := samePorts(listeners, ownListeners)
		if differ == nil && sameListeners {
			continue
		}
		name := client
		if client == otherNamespace {
			name = ""
		}
		r := ReachFacts{Namespace: name, Hosts: differ}
		if !sameListeners {
			r.ListenerPorts = listeners
		}
		out = append(out, r)
	}
	return out
}

// samePorts reports whether the sidecar listener ports of a and b are the
// same numbers (b may hold gateway ports too, which are left out).
func samePorts(a, b []ListenerPort) bool {
	nums := map[int64]bool{}
	for _, p := range a {
		nums[p.Number] = true
	}
	n := 0
	for _, p := range b {
		if !p.Sidecar {
			continue
		}
		if !nums[p.Number] {
			return false
		}
		n++
	}
	return n == len(nums)
}

// exportedNowhereElse reports whether exportTo keeps the VirtualService in
// its own namespace.
func exportedNowhereElse(exportTo []string, ns string) bool {
	if len(exportTo) == 0 {
		return false
	}
	for _, e := range exportTo {
		if e != "." && e != "~" && e != ns {
			return false
		}
	}
	return true
}

// reachNamespaces lists the namespaces other than ns that take the
// VirtualService and may see its hosts differently: those exportTo names,
// or with "*" every namespace an export list or a DestinationRule of the
// hosts singles out, the root namespace, and otherNamespace for the rest.
func reachNamespaces(ns string, shape *Shape, own map[string]*HostFacts, hosts []string, inv Inventory, s Settings) []string {
	set := map[string]bool{}
	all := len(shape.ExportTo) == 0
	for _, e := range shape.ExportTo {
		switch e {
		case "*":
			all = true
		case ".", "~":
		default:
			set[e] = true
		}
	}
	if all {
		set[otherNamespace] = true
		if s.RootNamespace != "" {
			set[s.RootNamespace] = true
		}
		// Sidecars serve hosts they do not see on their port-80 listener,
		// which some namespaces alone may have: that matters only for a
		// host of the VirtualService that some namespace does not see.
		fqdns := make([]string, 0, len(hosts)+len(shape.Hosts))
		hiddenSomewhere := false
		for _, h := range shape.Hosts {
			if strings.Contains(h, "*") {
				continue
			}
			fqdn := ResolveHost(h, ns, s.ClusterDomain)
			fqdns = append(fqdns, fqdn)
			hiddenSomewhere = hiddenSomewhere || !visibleEverywhere(fqdn, inv, s)
		}
		if hiddenSomewhere {
			for _, n := range inv.HTTPPortClients(80) {
				set[n] = true
			}
		}
		for _, h := range hosts {
			fqdns = append(fqdns, own[h].FQDN)
		}
		for _, fqdn := range fqdns {
			if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
				set[svcNS] = true
				if svc := inv.Service(svcNS, name); svc != nil {
					for _, e := range svc.ExportTo {
						set[e] = true
					}
				}
			}
			for _, se := range inv.ServiceEntriesForHost(fqdn) {
				set[se.Namespace] = true
				for _, e := range se.ExportTo {
					set[e] = true
				}
			}
			for _, dr := range inv.DestinationRulesForAnywhere(fqdn) {
				set[dr.Namespace] = true
				for _, e := range dr.ExportTo {
					set[e] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		if n != ns && n != "*" && n != "." && n != "~" && n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// visibleEverywhere reports whether a Service or ServiceEntry exported to
// all namespaces provides fqdn.
func visibleEverywhere(fqdn string, inv Inventory, s Settings) bool {
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil && isPublic(svc.ExportTo) {
			return true
		}
	}
	for _, se := range inv.ServiceEntriesForHost(fqdn) {
		if namesHost(se, fqdn) && isPublic(se.ExportTo) {
			return true
		}
	}
	return false
}

// reachResolver resolves hosts for the sidecars of other namespaces, for
// one VirtualService. A namespace that nothing about a host singles out
// sees it as otherNamespace does, so such namespaces share one
// resolution: with exportTo "*" a VirtualService reaches a namespace for
// every exportTo list that mentions port 80 (HTTPPortClients), and
// resolving each host again for each of them was most of the facts'
// cost on a fleet.
type reachResolver struct {
	inv Inventory
	s   Settings
	// singled holds, per host, the namespaces that may see it otherwise
	// than otherNamespace (see singledOut).
	singled map[string]map[string]bool
	generic map[reachKey]*HostFacts
}

type reachKey struct {
	fqdn     string
	withRule bool
}

func newReachResolver(inv Inventory, s Settings) *reachResolver {
	return &reachResolver{inv: inv, s: s, singled: map[string]map[string]bool{}, generic: map[reachKey]*HostFacts{}}
}

// resolve is resolveFrom. The facts it returns may be shared between
// namespaces: they are not to be changed.
func (r *reachResolver) resolve(fqdn, client string, withRule bool) *HostFacts {
	if client != otherNamespace && !r.seesAsAnyOther(fqdn, client) {
		return resolveFrom(fqdn, client, r.inv, r.s, withRule)
	}
	k := reachKey{fqdn, withRule}
	f := r.generic[k]
	if f == nil {
		f = resolveFrom(fqdn, otherNamespace, r.inv, r.s, withRule)
		r.generic[k] = f
	}
	return f
}

// seesAsAnyOther reports whether resolveFrom gives client what it gives
// otherNamespace for fqdn: client holds no DestinationRule for the host
// and is none of the namespaces singledOut names.
func (r *reachResolver) seesAsAnyOther(fqdn, client string) bool {
	singled, ok := r.singled[fqdn]
	if !ok {
		singled = singledOut(fqdn, r.inv, r.s)
		r.singled[fqdn] = singled
	}
	return !singled[client] && len(r.inv.DestinationRulesFor(client, fqdn)) == 0
}

// singledOut lists the namespaces whose sidecars resolveFrom may treat
// apart from any other for fqdn: the root namespace, and the namespace and
// exportTo entries of every Service and ServiceEntry that may provide the
// host and of every DestinationRule for it in their namespaces or the
// root namespace (the tiers addDestinationRuleFacts looks in, besides the
// client's own). ExportedTo tells two namespaces apart only through these.
func singledOut(fqdn string, inv Inventory, s Settings) map[string]bool {
	out := map[string]bool{s.RootNamespace: true}
	owners := []string{s.RootNamespace}
	single := func(ns string, exportTo []string) {
		owners = append(owners, ns)
		out[ns] = true
		for _, e := range exportTo {
			out[e] = true
		}
	}
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil {
			single(svcNS, svc.ExportTo)
		}
	}
	for _, se := range inv.ServiceEntriesForHost(fqdn) {
		single(se.Namespace, se.ExportTo)
	}
	for _, ns := range owners {
		for _, dr := range inv.DestinationRulesFor(ns, fqdn) {
			out[dr.Namespace] = true
			for _, e := range dr.ExportTo {
				out[e] = true
			}
		}
	}
	return out
}

// resolveFrom resolves fqdn for sidecars of client: the Service or
// ServiceEntry they see, and, when withRule is true, the DestinationRule
// they apply. It skips the hints hostFacts adds for a host that resolves
// to nothing.
func resolveFrom(fqdn, client string, inv Inventory, s Settings, withRule bool) *HostFacts {
	f := &HostFacts{FQDN: fqdn}
	serviceNS := ""
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil {
			if ExportedTo(svc.ExportTo, svcNS, client) {
				f.Resolved, f.Kind, f.Name, f.Ports, serviceNS = true, KindService, key(svcNS, name), svc.Ports, svcNS
			} else {
				f.HiddenBy = append(f.HiddenBy, "Service "+key(svcNS, name)+" (networking.istio.io/exportTo: "+strings.Join(svc.ExportTo, ",")+")")
			}
		}
	}
	if !f.Resolved {
		for _, se := range inv.ServiceEntriesForHost(fqdn) {
			if !namesHost(se, fqdn) {
				continue
			}
			if ExportedTo(se.ExportTo, se.Namespace, client) {
				f.Resolved, f.Kind, f.Name, f.Ports, serviceNS = true, KindServiceEntry, key(se.Namespace, se.Name), se.Ports, se.Namespace
				f.HiddenBy = nil
				break
			}
			f.HiddenBy = append(f.HiddenBy, "ServiceEntry "+key(se.Namespace, se.Name)+" (exportTo: "+strings.Join(se.ExportTo, ",")+")")
		}
	}
	if withRule {
		addDestinationRuleFacts(f, client, serviceNS, inv, s, false)
		f.OtherDestinationRules = nil
	}
	return f
}

// sameRouting reports whether two namespaces' facts of a host send a
// route to the same clusters: the host resolves alike, and the same
// subsets are defined.
func sameRouting(a, b *HostFacts) bool {
	if a.Resolved != b.Resolved || a.Name != b.Name {
		return false
	}
	ra, rb := a.DestinationRule, b.DestinationRule
	if (ra == nil) != (rb == nil) {
		return false
	}
	if ra == nil {
		return true
	}
	if len(ra.SubsetNames) != len(rb.SubsetNames) {
		return false
	}
	for _, n := range ra.SubsetNames {
		if _, ok := rb.Subsets[n]; !ok {
			return false
		}
	}
	return true
}
