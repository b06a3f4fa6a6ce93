package policies

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

// ServicePort is a port of a Service or ServiceEntry.
type ServicePort struct {
	Name     string `json:"name,omitempty"`
	Number   int64  `json:"number"`
	Protocol string `json:"protocol,omitempty"`
}

// Service is what the checks need of a Kubernetes Service.
type Service struct {
	Namespace string
	Name      string
	Ports     []ServicePort
	Selector  map[string]string
	// ExportTo comes from the networking.istio.io/exportTo annotation; nil means everywhere.
	ExportTo []string
}

// ServiceEntry is what the checks need of an Istio ServiceEntry.
type ServiceEntry struct {
	Namespace string
	Name      string
	Hosts     []string
	Ports     []ServicePort
	ExportTo  []string
}

// Subset is a named subset of a DestinationRule.
type Subset struct {
	Name   string
	Labels map[string]string
}

// DestinationRule is what the checks need of an Istio DestinationRule.
type DestinationRule struct {
	Namespace string
	Name      string
	// Host as written, and resolved to a fully qualified name in Namespace.
	Host     string
	FQDN     string
	Subsets  []Subset
	ExportTo []string
}

// SubsetNames lists the subsets in the order the DestinationRule gives them.
func (d *DestinationRule) SubsetNames() []string {
	out := make([]string, 0, len(d.Subsets))
	for _, s := range d.Subsets {
		out = append(out, s.Name)
	}
	return out
}

// GatewayServer is one server block of a Gateway.
type GatewayServer struct {
	Port     int64
	Name     string
	Protocol string // port.protocol, as written
	TLSMode  string // tls.mode, as written
	Hosts    []string
}

// Gateway is what the checks need of an Istio Gateway.
type Gateway struct {
	Namespace string
	Name      string
	Selector  map[string]string
	Servers   []GatewayServer
}

// Destination is one place a VirtualService sends traffic to, kept so the
// referenced side (a DestinationRule losing a subset, a Gateway being
// deleted) can find who still uses it.
type Destination struct {
	FQDN   string
	Subset string
	Field  string
}

// VirtualService is what the reference checks need of a VirtualService.
type VirtualService struct {
	Namespace    string
	Name         string
	Gateways     []string // namespace/name, "mesh" excluded
	Destinations []Destination
}

// Inventory answers the look-ups the checks make. Index is the in-memory
// implementation; the webhook fills one from informers.
type Inventory interface {
	Service(namespace, name string) *Service
	// ServicesNamed lists Services of that name in any namespace, for hints.
	ServicesNamed(name string) []*Service
	// ServicesIn lists the Services of a namespace, for hints about typos.
	ServicesIn(namespace string) []*Service
	// ServiceEntriesForHost lists ServiceEntries with a host equal to fqdn or a
	// wildcard host that covers it.
	ServiceEntriesForHost(fqdn string) []*ServiceEntry
	// DestinationRulesFor lists the DestinationRules of namespace whose host
	// covers fqdn, most specific host first.
	DestinationRulesFor(namespace, fqdn string) []*DestinationRule
	// DestinationRulesForAnywhere lists every DestinationRule whose host
	// covers fqdn, for hints about rules that exist but are not applied.
	DestinationRulesForAnywhere(fqdn string) []*DestinationRule
	Gateway(namespace, name string) *Gateway
	// CountWorkloads counts the workloads of namespace (Pods and pod
	// templates) whose labels include every selector's; known is false
	// when the inventory holds none there.
	CountWorkloads(namespace string, selectors ...map[string]string) (n int, known bool)
	// VirtualServicesUsing lists VirtualServices that route to fqdn (any
	// subset when subset is ""), or, for a Gateway, that bind to it.
	VirtualServicesRoutingTo(fqdn string) []*VirtualService
	VirtualServicesBoundTo(namespace, name string) []*VirtualService
	// HTTPPortServed reports whether some Service or ServiceEntry visible
	// from namespace client has an HTTP port of that number, so that
	// sidecars there have an HTTP listener on it.
	HTTPPortServed(port int64, client string) bool
	// HTTPPortClients lists the namespaces that Services and ServiceEntries
	// with an HTTP port of that number single out with their exportTo: only
	// there may such a port be served or not, others see it alike.
	HTTPPortClients(port int64) []string
	// KubeGateway is the Gateway API Gateway of that namespace and name.
	KubeGateway(namespace, name string) *KubeGateway
	// ReferenceGrantsIn lists the ReferenceGrants of a namespace.
	ReferenceGrantsIn(namespace string) []*ReferenceGrant
	// RoutesReferringTo lists the HTTPRoutes and GRPCRoutes with a
	// backendRef or parentRef into namespace.
	RoutesReferringTo(namespace string) []*KubeRoute
}

// drHostKey is a namespace and a host: a lookup with it builds no string,
// and reviews look DestinationRules up for every namespace a
// VirtualService reaches.
type drHostKey struct{ namespace, fqdn string }

// Index is an Inventory built from objects. It is safe for concurrent use:
// the webhook updates it from informers while reviews read it.
type Index struct {
	clusterDomain string

	mu              sync.RWMutex
	services        map[string]*Service   // ns/name
	servicesByName  map[string][]*Service // name
	servicesByNS    map[string][]*Service // namespace
	seExact         map[string][]*ServiceEntry
	seWildcard      map[string][]*ServiceEntry // suffix without "*", e.g. ".example.com"; "" for "*"
	seByKey         map[string]*ServiceEntry
	drExact         map[drHostKey][]*DestinationRule
	drWildcard      map[string][]*DestinationRule // ns
	drByFQDN        map[string][]*DestinationRule // fqdn (exact hosts only), any namespace
	drByKey         map[string]*DestinationRule
	gateways        map[string]*Gateway
	workloads       map[string]*workloadSet // ns
	virtualServices map[string]*VirtualService
	vsByHost        map[string]map[string]*VirtualService // fqdn -> ns/name
	vsByGateway     map[string]map[string]*VirtualService // gw ns/name -> vs ns/name
	httpPorts       map[int64]*portServers                // HTTP port number -> Services and ServiceEntries with it
	labels          *labelSets
	// Gateway API Gateways and ReferenceGrants by ns/name, apart from
	// Istio's Gateways, whose kind name they share.
	kubeGateways map[string]*KubeGateway
	grants       map[string]map[string]*ReferenceGrant // ns -> name
	// routes by kind/ns/name, and by the namespaces they refer to.
	routes     map[string]*KubeRoute
	routesByNS map[string]map[string]*KubeRoute
}

// NewIndex returns an empty Index resolving short names with clusterDomain.
func NewIndex(clusterDomain string) *Index {
	if clusterDomain == "" {
		clusterDomain = DefaultClusterDomain
	}
	return &Index{
		clusterDomain:   clusterDomain,
		services:        map[string]*Service{},
		servicesByName:  map[string][]*Service{},
		servicesByNS:    map[string][]*Service{},
		seExact:         map[string][]*ServiceEntry{},
		seWildcard:      map[string][]*ServiceEntry{},
		seByKey:         map[string]*ServiceEntry{},
		drExact:         map[drHostKey][]*DestinationRule{},
		drWildcard:      map[string][]*DestinationRule{},
		drByFQDN:        map[string][]*DestinationRule{},
		drByKey:         map[string]*DestinationRule{},
		gateways:        map[string]*Gateway{},
		workloads:       map[string]*workloadSet{},
		virtualServices: map[string]*VirtualService{},
		vsByHost:        map[string]map[string]*VirtualService{},
		vsByGateway:     map[string]map[string]*VirtualService{},
		httpPorts:       map[int64]*portServers{},
		labels:          newLabelSets(),
		kubeGateways:    map[string]*KubeGateway{},
		grants:          map[string]map[string]*ReferenceGrant{},
		routes:          map[string]*KubeRoute{},
		routesByNS:      map[string]map[string]*KubeRoute{},
	}
}

func key(ns, name string) string { return ns + "/" + name }

// Add records obj in the index, replacing an object of the same kind,
// namespace and name. Kinds the checks do not look up are ignored.
func (x *Index) Add(obj *Object) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(obj.Kind(), obj.Group(), obj.Namespace(), obj.Name())
	x.add(obj)
}

// AddUnlessPresent records obj unless the index holds an object of the
// same kind, namespace and name: `validate --cluster` adds the live
// cluster's objects after the files', which win.
func (x *Index) AddUnlessPresent(obj *Object) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.has(obj.Kind(), obj.Group(), obj.Namespace(), obj.Name()) {
		x.add(obj)
	}
}

// Remove forgets the object of that kind, API group, namespace and name.
func (x *Index) Remove(kind, group, namespace, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(kind, group, namespace, name)
}

func (x *Index) add(obj *Object) {
	ns, name := obj.Namespace(), obj.Name()
	switch {
	case obj.IsCoreService():
		svc := serviceFrom(obj)
		x.services[key(ns, name)] = svc
		x.servicesByName[name] = append(x.servicesByName[name], svc)
		x.servicesByNS[ns] = append(x.servicesByNS[ns], svc)
		x.indexHTTPPorts(KindService, key(ns, name), ns, svc.ExportTo, svc.Ports, true)
	case obj.Group() == GatewayAPIGroup:
		switch obj.Kind() {
		case KindGateway:
			x.kubeGateways[key(ns, name)] = kubeGatewayFrom(obj)
		case KindReferenceGrant:
			if x.grants[ns] == nil {
				x.grants[ns] = map[string]*ReferenceGrant{}
			}
			x.grants[ns][name] = referenceGrantFrom(obj)
		case KindHTTPRoute, KindGRPCRoute:
			r := kubeRouteFrom(obj)
			k := obj.Kind() + "/" + key(ns, name)
			x.routes[k] = r
			for _, to := range r.namespaces() {
				if x.routesByNS[to] == nil {
					x.routesByNS[to] = map[string]*KubeRoute{}
				}
				x.routesByNS[to][k] = r
			}
		}
	case obj.Group() == IstioNetworkingGroup:
		switch obj.Kind() {
		case KindServiceEntry:
			se := serviceEntryFrom(obj)
			x.seByKey[key(ns, name)] = se
			x.indexHTTPPorts(KindServiceEntry, key(ns, name), ns, se.ExportTo, se.Ports, true)
			for _, h := range se.Hosts {
				if suffix, ok := strings.CutPrefix(h, "*"); ok {
					x.seWildcard[suffix] = append(x.seWildcard[suffix], se)
				} else {
					x.seExact[h] = append(x.seExact[h], se)
				}
			}
		case KindDestinationRule:
			dr := destinationRuleFrom(obj, x.clusterDomain, x.labels)
			x.drByKey[key(ns, name)] = dr
			if strings.HasPrefix(dr.FQDN, "*") {
				x.drWildcard[ns] = append(x.drWildcard[ns], dr)
			} else {
				k := drHostKey{ns, dr.FQDN}
				x.drExact[k] = append(x.drExact[k], dr)
				x.drByFQDN[dr.FQDN] = append(x.drByFQDN[dr.FQDN], dr)
			}
		case KindGateway:
			x.gateways[key(ns, name)] = gatewayFrom(obj)
		case KindVirtualService:
			vs := virtualServiceFrom(obj, x.clusterDomain)
			k := key(ns, name)
			x.virtualServices[k] = vs
			for _, d := range vs.Destinations {
				addTo(x.vsByHost, d.FQDN, k, vs)
			}
			for _, g := range vs.Gateways {
				addTo(x.vsByGateway, g, k, vs)
			}
		}
	default:
		if labels, ok := workloadLabels(obj); ok {
			set := x.workloads[ns]
			if set == nil {
				set = newWorkloadSet()
				x.workloads[ns] = set
			}
			set.add(obj.Kind()+"/"+name, x.labels.share(labels))
		}
	}
}

func addTo(m map[string]map[string]*VirtualService, outer, inner string, vs *VirtualService) {
	set := m[outer]
	if set == nil {
		set = map[string]*VirtualService{}
		m[outer] = set
	}
	set[inner] = vs
}

func (x *Index) remove(kind, group, ns, name string) {
	k := key(ns, name)
	switch {
	case kind == KindService && group == "":
		if svc := x.services[k]; svc != nil {
			delete(x.services, k)
			x.servicesByName[name] = without(x.servicesByName[name], svc)
			x.servicesByNS[ns] = without(x.servicesByNS[ns], svc)
			x.indexHTTPPorts(KindService, k, ns, svc.ExportTo, svc.Ports, false)
		}
	case group == IstioNetworkingGroup && kind == KindServiceEntry:
		if se := x.seByKey[k]; se != nil {
			delete(x.seByKey, k)
			x.indexHTTPPorts(KindServiceEntry, k, ns, se.ExportTo, se.Ports, false)
			for _, h := range se.Hosts {
				if suffix, ok := strings.CutPrefix(h, "*"); ok {
					x.seWildcard[suffix] = without(x.seWildcard[suffix], se)
				} else {
					x.seExact[h] = without(x.seExact[h], se)
				}
			}
		}
	case group == IstioNetworkingGroup && kind == KindDestinationRule:
		if dr := x.drByKey[k]; dr != nil {
			delete(x.drByKey, k)
			x.drWildcard[ns] = without(x.drWildcard[ns], dr)
			k := drHostKey{ns, dr.FQDN}
			x.drExact[k] = without(x.drExact[k], dr)
			x.drByFQDN[dr.FQDN] = without(x.drByFQDN[dr.FQDN], dr)
		}
	case group == IstioNetworkingGroup && kind == KindGateway:
		delete(x.gateways, k)
	case group == GatewayAPIGroup && kind == KindGateway:
		delete(x.kubeGateways, k)
	case group == GatewayAPIGroup && kind == KindReferenceGrant:
		delete(x.grants[ns], name)
		if len(x.grants[ns]) == 0 {
			delete(x.grants, ns)
		}
	case group == GatewayAPIGroup && (kind == KindHTTPRoute || kind == KindGRPCRoute):
		if r := x.routes[kind+"/"+k]; r != nil {
			delete(x.routes, kind+"/"+k)
			for _, to := range r.namespaces() {
				delete(x.routesByNS[to], kind+"/"+k)
				if len(x.routesByNS[to]) == 0 {
					delete(x.routesByNS, to)
				}
			}
		}
	case group == GatewayAPIGroup:
	case group == IstioNetworkingGroup && kind == KindVirtualService:
		if vs := x.virtualServices[k]; vs != nil {
			delete(x.virtualServices, k)
			for _, d := range vs.Destinations {
				delete(x.vsByHost[d.FQDN], k)
			}
			for _, g := range vs.Gateways {
				delete(x.vsByGateway[g], k)
			}
		}
	default:
		if set := x.workloads[ns]; set != nil {
			set.remove(kind + "/" + name)
			if len(set.byName) == 0 {
				delete(x.workloads, ns)
			}
		}
	}
}

// portServers are the Services and ServiceEntries with an HTTP port of
// one number: how many are exported everywhere, and the others by kind and
// key, which a look-up checks one by one (few restrict their exportTo).
type portServers struct {
	public     int
	restricted map[string]portServer
}

type portServer struct {
	namespace string
	exportTo  []string
}

func isPublic(exportTo []string) bool {
	return len(exportTo) == 0 || containsString(exportTo, "*")
}

// indexHTTPPorts adds (or, with add false, removes) a Service's or
// ServiceEntry's HTTP ports.
func (x *Index) indexHTTPPorts(kind, k, ns string, exportTo []string, ports []ServicePort, add bool) {
	seen := map[int64]bool{}
	for _, p := range ports {
		if !carriesHTTPRoutes(kind, p) || seen[p.Number] {
			continue
		}
		seen[p.Number] = true
		ps := x.httpPorts[p.Number]
		if ps == nil {
			ps = &portServers{restricted: map[string]portServer{}}
			x.httpPorts[p.Number] = ps
		}
		switch {
		case isPublic(exportTo) && add:
			ps.public++
		case isPublic(exportTo):
			ps.public--
		case add:
			ps.restricted[kind+"/"+k] = portServer{namespace: ns, exportTo: exportTo}
		default:
			delete(ps.restricted, kind+"/"+k)
		}
		if ps.public <= 0 && len(ps.restricted) == 0 {
			delete(x.httpPorts, p.Number)
		}
	}
}

// HTTPPortClients implements Inventory.
func (x *Index) HTTPPortClients(port int64) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ps := x.httpPorts[port]
	if ps == nil {
		return nil
	}
	var out []string
	for _, srv := range ps.restricted {
		for _, e := range srv.exportTo {
			switch e {
			case ".":
				out = append(out, srv.namespace)
			case "~":
			default:
				out = append(out, e)
			}
		}
	}
	return out
}

// HTTPPortServed implements Inventory.
func (x *Index) HTTPPortServed(port int64, client string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ps := x.httpPorts[port]
	if ps == nil {
		return false
	}
	if ps.public > 0 {
		return true
	}
	for _, srv := range ps.restricted {
		if ExportedTo(srv.exportTo, srv.namespace, client) {
			return true
		}
	}
	return false
}

// has reports whether remove would find something to forget.
func (x *Index) has(kind, group, ns, name string) bool {
	k := key(ns, name)
	switch {
	case kind == KindService && group == "":
		return x.services[k] != nil
	case group == IstioNetworkingGroup && kind == KindServiceEntry:
		return x.seByKey[k] != nil
	case group == IstioNetworkingGroup && kind == KindDestinationRule:
		return x.drByKey[k] != nil
	case group == IstioNetworkingGroup && kind == KindGateway:
		return x.gateways[k] != nil
	case group == GatewayAPIGroup && kind == KindGateway:
		return x.kubeGateways[k] != nil
	case group == GatewayAPIGroup && kind == KindReferenceGrant:
		return x.grants[ns][name] != nil
	case group == GatewayAPIGroup && (kind == KindHTTPRoute || kind == KindGRPCRoute):
		return x.routes[kind+"/"+k] != nil
	case group == GatewayAPIGroup:
		return false
	case group == IstioNetworkingGroup && kind == KindVirtualService:
		return x.virtualServices[k] != nil
	default:
		set := x.workloads[ns]
		if set == nil {
			return false
		}
		_, ok := set.byName[kind+"/"+name]
		return ok
	}
}

func without[T comparable](items []T, drop T) []T {
	out := items[:0:0]
	for _, it := range items {
		if it != drop {
			out = append(out, it)
		}
	}
	return out
}

// Service implements Inventory.
func (x *Index) Service(namespace, name string) *Service {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.services[key(namespace, name)]
}

// ServicesNamed implements Inventory.
func (x *Index) ServicesNamed(name string) []*Service {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]*Service(nil), x.servicesByName[name]...)
}

// ServicesIn implements Inventory.
func (x *Index) ServicesIn(namespace string) []*Service {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]*Service(nil), x.servicesByNS[namespace]...)
}

// ServiceEntriesForHost implements Inventory.
func (x *Index) ServiceEntriesForHost(fqdn string) []*ServiceEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := append([]*ServiceEntry(nil), x.seExact[fqdn]...)
	// Walk the suffixes from the most specific: a.b.c -> .b.c -> .c -> "".
	h := fqdn
	for {
		i := strings.IndexByte(h, '.')
		if i < 0 {
			break
		}
		h = h[i:]
		out = append(out, x.seWildcard[h]...)
		h = h[1:]
	}
	return append(out, x.seWildcard[""]...)
}

// DestinationRulesFor implements Inventory.
func (x *Index) DestinationRulesFor(namespace, fqdn string) []*DestinationRule {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := append([]*DestinationRule(nil), x.drExact[drHostKey{namespace, fqdn}]...)
	var wild []*DestinationRule
	for _, dr := range x.drWildcard[namespace] {
		if HostCovers(dr.FQDN, fqdn) {
			wild = append(wild, dr)
		}
	}
	sort.SliceStable(wild, func(i, j int) bool { return len(wild[i].FQDN) > len(wild[j].FQDN) })
	return append(out, wild...)
}

// DestinationRulesForAnywhere implements Inventory.
func (x *Index) DestinationRulesForAnywhere(fqdn string) []*DestinationRule {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]*DestinationRule(nil), x.drByFQDN[fqdn]...)
}

// Gateway implements Inventory.
func (x *Index) Gateway(namespace, name string) *Gateway {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.gateways[key(namespace, name)]
}

// CountWorkloads implements Inventory.
func (x *Index) CountWorkloads(namespace string, selectors ...map[string]string) (int, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	set := x.workloads[namespace]
	if set == nil || len(set.byName) == 0 {
		return 0, false
	}
	return set.count(selectors), true
}

// VirtualServicesRoutingTo implements Inventory.
func (x *Index) VirtualServicesRoutingTo(fqdn string) []*VirtualService {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sortedVS(x.vsByHost[fqdn])
}

// VirtualServicesBoundTo implements Inventory.
func (x *Index) VirtualServicesBoundTo(namespace, name string) []*VirtualService {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sortedVS(x.vsByGateway[key(namespace, name)])
}

func sortedVS(m map[string]*VirtualService) []*VirtualService {
	out := make([]*VirtualService, 0, len(m))
	for _, vs := range m {
		out = append(out, vs)
	}
	sort.Slice(out, func(i, j int) bool {
		return key(out[i].Namespace, out[i].Name) < key(out[j].Namespace, out[j].Name)
	})
	return out
}

func servicePorts(items []any) []ServicePort {
	var ports []ServicePort
	for _, it := range items {
		p, ok := it.(map[string]any)
		if !ok {
			continue
		}
		n, ok := intValue(p["port"])
		if !ok {
			n, _ = intValue(p["number"])
		}
		ports = append(ports, ServicePort{Name: str(p["name"]), Number: n, Protocol: str(p["protocol"])})
	}
	return ports
}

func serviceFrom(obj *Object) *Service {
	spec := obj.Spec()
	svc := &Service{
		Namespace: obj.Namespace(),
		Name:      obj.Name(),
		Ports:     servicePorts(sliceAt(spec, "ports")),
		Selector:  stringMap(spec["selector"]),
	}
	if v, ok := obj.Annotations()["networking.istio.io/exportTo"]; ok {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				svc.ExportTo = append(svc.ExportTo, part)
			}
		}
	}
	return svc
}

func serviceEntryFrom(obj *Object) *ServiceEntry {
	spec := obj.Spec()
	return &ServiceEntry{
		Namespace: obj.Namespace(),
		Name:      obj.Name(),
		Hosts:     stringSlice(spec["hosts"]),
		Ports:     servicePorts(sliceAt(spec, "ports")),
		ExportTo:  stringSlice(spec["exportTo"]),
	}
}

func destinationRuleFrom(obj *Object, domain string, labels *labelSets) *DestinationRule {
	shape := obj.shapeSharing(labels)
	dr := &DestinationRule{
		Namespace: obj.Namespace(),
		Name:      obj.Name(),
		Host:      shape.Host,
		ExportTo:  shape.ExportTo,
		Subsets:   shape.Subsets,
	}
	dr.FQDN = ResolveHost(dr.Host, dr.Namespace, domain)
	return dr
}

func gatewayFrom(obj *Object) *Gateway {
	spec := obj.Spec()
	gw := &Gateway{Namespace: obj.Namespace(), Name: obj.Name(), Selector: stringMap(spec["selector"])}
	for _, it := range sliceAt(spec, "servers") {
		s, ok := it.(map[string]any)
		if !ok {
			continue
		}
		port := mapAt(s, "port")
		n, _ := intValue(port["number"])
		gw.Servers = append(gw.Servers, GatewayServer{
			Port: n, Name: str(s["name"]), Protocol: str(port["protocol"]), TLSMode: str(mapAt(s, "tls")["mode"]), Hosts: stringSlice(s["hosts"]),
		})
	}
	return gw
}

func virtualServiceFrom(obj *Object, domain string) *VirtualService {
	ns := obj.Namespace()
	vs := &VirtualService{Namespace: ns, Name: obj.Name()}
	shape := obj.shape()
	for _, g := range shape.Gateways {
		if g.Name == MeshGateway {
			continue
		}
		vs.Gateways = append(vs.Gateways, GatewayKey(g.Name, ns))
	}
	for _, d := range shape.Destinations {
		if d.Dropped {
			// pilot sends nothing there: removing its subset or host breaks nothing.
			continue
		}
		vs.Destinations = append(vs.Destinations, Destination{
			FQDN: ResolveHost(d.Host, ns, domain), Subset: d.Subset, Field: d.Field,
		})
	}
	return vs
}

// workloadLabels returns the labels of the pods an object is or makes.
func workloadLabels(obj *Object) (map[string]string, bool) {
	switch obj.Kind() {
	case KindPod:
		if obj.APIVersion() == "v1" {
			return obj.Labels(), true
		}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		tmpl := mapAt(obj.Spec(), "template")
		return stringMap(mapAt(tmpl, "metadata")["labels"]), true
	}
	return nil, false
}

// VirtualServiceNamed returns the indexed VirtualService, or nil.
func (x *Index) VirtualServiceNamed(namespace, name string) *VirtualService {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.virtualServices[key(namespace, name)]
}

// KubeGateway returns the Gateway API Gateway of that namespace and name.
func (x *Index) KubeGateway(namespace, name string) *KubeGateway {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.kubeGateways[key(namespace, name)]
}

// ReferenceGrantsIn lists the ReferenceGrants of a namespace by name.
func (x *Index) ReferenceGrantsIn(namespace string) []*ReferenceGrant {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return byKey(x.grants[namespace])
}

// RoutesReferringTo implements Inventory, sorted by kind, namespace and
// name.
func (x *Index) RoutesReferringTo(namespace string) []*KubeRoute {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return byKey(x.routesByNS[namespace])
}

// byKey lists the values of m in the order of their keys.
func byKey[T any](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// RouteNamed returns the indexed HTTPRoute or GRPCRoute, or nil.
func (x *Index) RouteNamed(kind, namespace, name string) *KubeRoute {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.routes[kind+"/"+key(namespace, name)]
}
