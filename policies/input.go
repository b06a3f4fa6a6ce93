package policies

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Operation is what is being done to the object under review.
type Operation string

// Operations. Offline validation reviews objects as if they were created.
const (
	OperationCreate Operation = "CREATE"
	OperationUpdate Operation = "UPDATE"
	OperationDelete Operation = "DELETE"
)

// Review is one object to check: what the webhook gets in an
// AdmissionReview, and what `kubectl mesh validate` makes of each document.
type Review struct {
	Operation Operation
	Object    *Object
	// OldObject is the stored object on UPDATE and DELETE.
	OldObject *Object
}

// subject is the object whose kind, namespace and name the review is about.
func (r Review) subject() *Object {
	if r.Object != nil {
		return r.Object
	}
	return r.OldObject
}

// Facts are what the Go side resolves for one review, so that the
// policies never search the inventory or walk the object themselves. They
// are input.facts in the policy input; docs/policies.md describes them.
type Facts struct {
	Namespace string
	// Malformed and Missing come from the schema walk (Shape).
	Malformed []TypeProblem
	Missing   []string
	// VirtualService: every destination, the weighted routes, what each
	// destination host resolves to, the gateways named, spec.exportTo.
	Destinations []DestinationRef
	Routes       []RouteShape
	Hosts        map[string]*HostFacts
	Gateways     []GatewayFacts
	ExportTo     []string
	// ByHost lists, per destination host, the indexes of its destinations,
	// so that a policy visits only the destinations of a host it judges.
	ByHost map[string][]int
	// MeshBound is true when sidecars take the VirtualService (no
	// spec.gateways, or "mesh" among them).
	MeshBound bool
	// ListenerPorts are the ports whose routes carry this VirtualService:
	// a destination without a port goes to the listener's port.
	ListenerPorts []ListenerPort
	// Reach holds the hosts as the other namespaces the VirtualService is
	// exported to see them, for those that see them otherwise than its own.
	Reach []ReachFacts
	// DestinationRule: subset names in order, and on UPDATE/DELETE those of
	// the stored object.
	SubsetNames    []string
	OldSubsetNames []string
	// UsedBy lists the VirtualServices using what an UPDATE or DELETE touches.
	UsedBy []UseFacts
	// Gateway API routes: what each backendRef and parentRef resolves to,
	// and the weights of each rule's backendRefs.
	BackendRefs  []BackendRefFacts
	ParentRefs   []ParentRefFacts
	BackendRules []BackendRuleShape
	// RouteUses: on UPDATE or DELETE of a Service, Gateway API Gateway or
	// ReferenceGrant, the places of routes that it breaks.
	RouteUses []RouteUseFacts
}

// nonEmpty reports whether the list (or map) of input.facts called name
// holds anything; known is false for a name that is none of them.
func (f *Facts) nonEmpty(name string) (nonEmpty, known bool) {
	switch name {
	case "malformed":
		return len(f.Malformed) > 0, true
	case "missing":
		return len(f.Missing) > 0, true
	case "destinations":
		return len(f.Destinations) > 0, true
	case "routes":
		return len(f.Routes) > 0, true
	case "hosts":
		return len(f.Hosts) > 0, true
	case "gateways":
		return len(f.Gateways) > 0, true
	case "exportTo":
		return len(f.ExportTo) > 0, true
	case "byHost":
		return len(f.ByHost) > 0, true
	case "listenerPorts":
		return len(f.ListenerPorts) > 0, true
	case "reach":
		return len(f.Reach) > 0, true
	case "subsetNames":
		return len(f.SubsetNames) > 0, true
	case "oldSubsetNames":
		return len(f.OldSubsetNames) > 0, true
	case "usedBy":
		return len(f.UsedBy) > 0, true
	case "backendRefs":
		return len(f.BackendRefs) > 0, true
	case "parentRefs":
		return len(f.ParentRefs) > 0, true
	case "backendRules":
		return len(f.BackendRules) > 0, true
	case "routeUses":
		return len(f.RouteUses) > 0, true
	}
	return false, false
}

// anyNonEmpty reports whether a package gated by names (see gatedPackage)
// has anything to look at; a package without names always has.
func (f *Facts) anyNonEmpty(names []string) bool {
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if ok, _ := f.nonEmpty(n); ok {
			return true
		}
	}
	return false
}

// HostFacts say what a destination host resolves to from a namespace.
type HostFacts struct {
	FQDN     string
	Resolved bool
	Kind     string // Service or ServiceEntry
	Name     string // namespace/name of it
	Ports    []ServicePort
	// HiddenBy names objects that serve the host but are not exported to the namespace.
	HiddenBy []string
	// Candidates are hosts the name may have meant.
	Candidates      []string
	WorkloadsKnown  bool
	DestinationRule *AppliedRule
	// OtherDestinationRules exist for the host but are not the one applied.
	OtherDestinationRules []OtherRule

	// asTerm is the input term, built once: facts shared by reviews
	// (hostCache) are not changed after they are made.
	termOnce sync.Once
	asTerm   *ast.Term
}

// AppliedRule is the DestinationRule (merged, when several share a host
// in one namespace) that the client namespace gets for a host.
type AppliedRule struct {
	Names       []string
	Host        string
	SubsetNames []string
	Subsets     map[string]SubsetFacts
}

// SubsetFacts describe one subset of the applied rule.
type SubsetFacts struct {
	Labels    map[string]string
	DefinedBy string
	// Workloads counts matching workloads; -1 when none are known.
	Workloads int
}

// OtherRule is a DestinationRule for the host that is not applied, and why.
type OtherRule struct {
	Name        string
	SubsetNames []string
	Reason      string
}

// ListenerPort is a port a VirtualService's routes are served on, and
// what puts them there (a Service the VirtualService is for, or a
// Gateway server).
type ListenerPort struct {
	Number int64
	Via    string
	// Sidecar is true for a sidecar's listener: there a destination
	// without a port always takes the listener's port (pilot looks the
	// destination up among the Services on that port only); at a gateway
	// a destination host with a single port takes that port.
	Sidecar bool
}

// ReachFacts are the facts of destination hosts as sidecars of another
// namespace see them. Namespace is empty for "any other namespace": with
// exportTo "*" every namespace of the cluster, present or future, takes
// the VirtualService.
type ReachFacts struct {
	Namespace string
	Hosts     map[string]*HostFacts
	// ListenerPorts are the ports its sidecars serve the routes on, when
	// they differ from the VirtualService's own namespace's.
	ListenerPorts []ListenerPort
}

// GatewayFacts describe a gateway a VirtualService binds to.
type GatewayFacts struct {
	Ref, Field, Key, Namespace, Name string
	Exists, Visible                  bool
	ServedHosts, UnservedHosts       []string
	ServerHosts                      []string
}

// UseFacts is one use of the object under review by a VirtualService.
type UseFacts struct {
	VirtualService, Namespace, Host, Subset, Field string
}

// BuildFacts resolves the facts of one review against the inventory.
func BuildFacts(r Review, inv Inventory, s Settings) *Facts {
	return buildFacts(r, inv, s, nil)
}

// hostCache shares the facts of resolved hosts, and their input terms,
// among the reviews of one ReviewAll, whose inventory does not change
// meanwhile: a DestinationRule and the VirtualServices routing to its host
// from its namespace ask for the same. Facts of a host that resolves to
// nothing also depend on how the host is written (the hints), so they are
// not shared. It holds the hostCacheSize hosts seen last: kept for a whole
// run, the facts of 10,000 hosts added 70 MB to validate's peak.
type hostCache struct {
	mu    sync.Mutex
	hosts map[hostKey]*HostFacts
	order []hostKey // ring of the keys in hosts, oldest at next
	next  int
}

type hostKey struct{ fqdn, namespace string }

const hostCacheSize = 1024

func newHostCache() *hostCache { return &hostCache{hosts: map[hostKey]*HostFacts{}} }

func (c *hostCache) add(key hostKey, f *HostFacts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.hosts[key]; ok {
		return
	}
	if len(c.order) < hostCacheSize {
		c.order = append(c.order, key)
	} else {
		delete(c.hosts, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % hostCacheSize
	}
	c.hosts[key] = f
}

// hostFacts is the package's hostFacts through the cache; c may be nil.
func (c *hostCache) hostFacts(host, ns string, inv Inventory, s Settings) *HostFacts {
	if c == nil {
		return hostFacts(host, ns, inv, s)
	}
	key := hostKey{ResolveHost(host, ns, s.ClusterDomain), ns}
	c.mu.Lock()
	f := c.hosts[key]
	c.mu.Unlock()
	if f != nil {
		return f
	}
	f = hostFacts(host, ns, inv, s)
	if f.Resolved {
		c.add(key, f)
	}
	return f
}

func buildFacts(r Review, inv Inventory, s Settings, cache *hostCache) *Facts {
	obj := r.subject()
	ns := obj.Namespace()
	f := &Facts{Namespace: ns}
	if obj.IsRouteReferenced() {
		if r.Operation != OperationCreate {
			f.RouteUses = routeUseFacts(r, inv, s)
		}
		return f
	}
	if r.Object != nil {
		shape := r.Object.shape()
		f.Malformed, f.Missing = shape.Malformed, shape.Missing
		if obj.IsGatewayAPIRoute() {
			routeFacts(r.Object, shape, f, inv, s, cache)
			return f
		}
		switch obj.Kind() {
		case KindVirtualService:
			f.Destinations, f.Routes = shape.Destinations, shape.Routes
			f.Hosts = map[string]*HostFacts{}
			for _, d := range shape.Destinations {
				if _, done := f.Hosts[d.Host]; !done {
					f.Hosts[d.Host] = cache.hostFacts(d.Host, ns, inv, s)
				}
			}
			f.Gateways = gatewayFacts(r.Object, shape, inv, s)
			f.ExportTo = shape.ExportTo
			f.ByHost = make(map[string][]int, len(f.Hosts))
			for i, d := range shape.Destinations {
				f.ByHost[d.Host] = append(f.ByHost[d.Host], i)
			}
			f.MeshBound = meshBound(shape)
			f.ListenerPorts = listenerPorts(ns, shape, f.MeshBound, inv, s, cache)
			if f.MeshBound {
				f.Reach = reachFacts(ns, shape, f.Hosts, f.ListenerPorts, inv, s)
			}
		case KindDestinationRule:
			if shape.Host != "" {
				f.Hosts = map[string]*HostFacts{shape.Host: cache.hostFacts(shape.Host, ns, inv, s)}
			}
			f.SubsetNames = shape.SubsetNames
		}
	}
	if r.OldObject != nil && r.OldObject.Kind() == KindDestinationRule {
		f.OldSubsetNames = r.OldObject.shape().SubsetNames
	}
	if r.Operation == OperationUpdate || r.Operation == OperationDelete {
		f.UsedBy = usedByFacts(r, inv, s)
	}
	return f
}

// hostFacts resolves a destination host written in namespace ns the way
// Istio's sidecars in ns would: to a Service or ServiceEntry visible from
// ns, and to the DestinationRule that ns actually gets for it.
func hostFacts(host, ns string, inv Inventory, s Settings) *HostFacts {
	fqdn := ResolveHost(host, ns, s.ClusterDomain)
	f := &HostFacts{FQDN: fqdn}
	serviceNS := ""
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil {
			if ExportedTo(svc.ExportTo, svcNS, ns) {
				f.Resolved, f.Kind, f.Name, f.Ports = true, KindService, key(svcNS, name), svc.Ports
				serviceNS = svcNS
				_, f.WorkloadsKnown = inv.CountWorkloads(svcNS)
			} else {
				f.HiddenBy = append(f.HiddenBy, fmt.Sprintf("Service %s/%s (networking.istio.io/exportTo: %s)", svcNS, name, strings.Join(svc.ExportTo, ",")))
			}
		}
	}
	if !f.Resolved {
		for _, se := range inv.ServiceEntriesForHost(fqdn) {
			if !namesHost(se, fqdn) {
				// A wildcard entry has a cluster for the wildcard only.
				f.Candidates = append(f.Candidates, wildcardsCovering(se, fqdn)...)
				continue
			}
			if ExportedTo(se.ExportTo, se.Namespace, ns) {
				f.Resolved, f.Kind, f.Name, f.Ports = true, KindServiceEntry, key(se.Namespace, se.Name), se.Ports
				serviceNS = se.Namespace
				break
			}
			f.HiddenBy = append(f.HiddenBy, fmt.Sprintf("ServiceEntry %s/%s (exportTo: %s)", se.Namespace, se.Name, strings.Join(se.ExportTo, ",")))
		}
	}
	if !f.Resolved {
		f.HiddenBy = uniqueStrings(f.HiddenBy)
		f.Candidates = append(uniqueStrings(f.Candidates), candidateHosts(host, ns, inv, s)...)
	} else {
		f.Candidates = nil
	}
	addDestinationRuleFacts(f, ns, serviceNS, inv, s, true)
	return f
}

// namesHost reports whether a ServiceEntry lists fqdn itself among its
// hosts: pilot names a cluster after the destination host as written, and
// a wildcard entry's cluster is named after the wildcard.
func namesHost(se *ServiceEntry, fqdn string) bool {
	for _, h := range se.Hosts {
		if h == fqdn {
			return true
		}
	}
	return false
}

// wildcardsCovering lists the wildcard hosts of se that cover fqdn.
func wildcardsCovering(se *ServiceEntry, fqdn string) []string {
	var out []string
	for _, h := range se.Hosts {
		if strings.Contains(h, "*") && HostCovers(h, fqdn) {
			out = append(out, h)
		}
	}
	return out
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// candidateHosts suggests what a host that resolves to nothing may have
// meant: Services of the same first label in other namespaces.
func candidateHosts(host, ns string, inv Inventory, s Settings) []string {
	name, _, _ := strings.Cut(host, ".")
	var out []string
	for _, svc := range inv.ServicesNamed(name) {
		if ExportedTo(svc.ExportTo, svc.Namespace, ns) {
			out = append(out, svc.Name+"."+svc.Namespace+".svc."+s.ClusterDomain)
		}
	}
	if len(out) == 0 && len(name) > 3 {
		// A typo of a Service in the namespace the host points at.
		target := ns
		if svcNS, _, ok := ServiceFromFQDN(ResolveHost(host, ns, s.ClusterDomain), s.ClusterDomain); ok {
			target = svcNS
		}
		for _, svc := range inv.ServicesIn(target) {
			if editDistance(name, svc.Name, 2) <= 2 {
				out = append(out, svc.Name+"."+svc.Namespace+".svc."+s.ClusterDomain)
			}
		}
	}
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance of a and b, or max+1 once it
// is known to exceed max.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > max {
			return max + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// addDestinationRuleFacts finds the DestinationRule that sidecars in client
// namespace ns apply to the host: Istio looks in ns, then in the namespace
// of the service, then in the root namespace, taking the first namespace
// that has a rule exported to ns; several rules for the same host there
// merge their subsets, the first definition of a name winning.
//
// countWorkloads counts the workloads each subset selects (for MESH0302);
// the facts of other namespaces need only the subsets' names.
func addDestinationRuleFacts(f *HostFacts, ns, serviceNS string, inv Inventory, s Settings, countWorkloads bool) {
	tiers := []string{ns}
	if serviceNS != "" && serviceNS != ns {
		tiers = append(tiers, serviceNS)
	}
	if s.RootNamespace != "" && s.RootNamespace != ns && s.RootNamespace != serviceNS {
		tiers = append(tiers, s.RootNamespace)
	}
	var applied []*DestinationRule
	noted := map[*DestinationRule]bool{}
	note := func(dr *DestinationRule, why string) {
		if !noted[dr] {
			noted[dr] = true
			f.OtherDestinationRules = append(f.OtherDestinationRules, OtherRule{Name: key(dr.Namespace, dr.Name), SubsetNames: dr.SubsetNames(), Reason: why})
		}
	}
	for _, tier := range tiers {
		for _, dr := range inv.DestinationRulesFor(tier, f.FQDN) {
			switch {
			case !ExportedTo(dr.ExportTo, dr.Namespace, ns):
				note(dr, "its exportTo ["+strings.Join(dr.ExportTo, ", ")+"] does not include namespace "+ns)
			case len(applied) > 0 && (applied[0].Namespace != dr.Namespace || applied[0].FQDN != dr.FQDN):
				note(dr, "namespace "+ns+" gets "+key(applied[0].Namespace, applied[0].Name)+" instead")
			default:
				applied = append(applied, dr)
				noted[dr] = true
			}
		}
	}
	// Rules elsewhere for the host explain a missing subset as well.
	for _, dr := range inv.DestinationRulesForAnywhere(f.FQDN) {
		if !containsString(tiers, dr.Namespace) {
			note(dr, "namespace "+ns+" does not take DestinationRules from namespace "+dr.Namespace)
		}
	}
	if len(applied) == 0 {
		return
	}
	rule := &AppliedRule{Host: applied[0].Host, Subsets: map[string]SubsetFacts{}}
	known := false
	var svcNS string
	var selector map[string]string
	if ns, name, ok := ServiceFromFQDN(f.FQDN, s.ClusterDomain); ok && countWorkloads {
		if svc := inv.Service(ns, name); svc != nil {
			_, known = inv.CountWorkloads(ns)
			svcNS, selector = ns, svc.Selector
		}
	}
	for _, dr := range applied {
		rule.Names = append(rule.Names, key(dr.Namespace, dr.Name))
		for _, sub := range dr.Subsets {
			if _, dup := rule.Subsets[sub.Name]; dup {
				continue
			}
			rule.SubsetNames = append(rule.SubsetNames, sub.Name)
			sf := SubsetFacts{Labels: sub.Labels, DefinedBy: key(dr.Namespace, dr.Name), Workloads: -1}
			if known {
				sf.Workloads, _ = inv.CountWorkloads(svcNS, selector, sub.Labels)
			}
			rule.Subsets[sub.Name] = sf
		}
	}
	f.DestinationRule = rule
}

func containsString(list []string, s string) bool {
	for _, it := range list {
		if it == s {
			return true
		}
	}
	return false
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// gatewayFacts describes every gateway the VirtualService binds to: whether
// it exists, and which of the VirtualService's hosts its servers accept.
func gatewayFacts(obj *Object, shape *Shape, inv Inventory, s Settings) []GatewayFacts {
	ns := obj.Namespace()
	vsHosts, exportTo := shape.Hosts, shape.ExportTo
	out := make([]GatewayFacts, 0, len(shape.Gateways))
	for _, ref := range shape.Gateways {
		if ref.Name == MeshGateway {
			continue
		}
		k := GatewayKey(ref.Name, ns)
		gwNS, gwName, _ := strings.Cut(k, "/")
		g := GatewayFacts{Ref: ref.Name, Field: ref.Field, Key: k, Namespace: gwNS, Name: gwName}
		if gw := inv.Gateway(gwNS, gwName); gw != nil {
			g.Exists = true
			g.Visible = ExportedTo(exportTo, ns, gwNS)
			for _, srv := range gw.Servers {
				g.ServerHosts = append(g.ServerHosts, srv.Hosts...)
			}
			for _, h := range vsHosts {
				if gatewayAccepts(gw, ns, ResolveHost(h, ns, s.ClusterDomain)) {
					g.ServedHosts = append(g.ServedHosts, h)
				} else {
					g.UnservedHosts = append(g.UnservedHosts, h)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

// gatewayAccepts reports whether a server of gw takes host for
// VirtualServices of namespace vsNS. Server hosts are "host" or
// "namespace/host", the namespace being *, . (the gateway's) or a name.
func gatewayAccepts(gw *Gateway, vsNS, host string) bool {
	for _, srv := range gw.Servers {
		for _, sh := range srv.Hosts {
			hostNS, h, found := strings.Cut(sh, "/")
			if !found {
				hostNS, h = "*", sh
			}
			switch hostNS {
			case "*":
			case ".":
				if vsNS != gw.Namespace {
					continue
				}
			default:
				if vsNS != hostNS {
					continue
				}
			}
			if HostsIntersect(h, host) {
				return true
			}
		}
	}
	return false
}

// usedByFacts lists the VirtualServices that still use what an UPDATE or
// DELETE would take away; the reference policy decides what breaks.
func usedByFacts(r Review, inv Inventory, s Settings) []UseFacts {
	obj := r.subject()
	var out []UseFacts
	add := func(vs *VirtualService, d Destination) {
		out = append(out, UseFacts{VirtualService: key(vs.Namespace, vs.Name), Namespace: vs.Namespace, Host: d.FQDN, Subset: d.Subset, Field: d.Field})
	}
	switch obj.Kind() {
	case KindDestinationRule:
		dr := destinationRuleFrom(obj, s.ClusterDomain, nil)
		for _, vs := range inv.VirtualServicesRoutingTo(dr.FQDN) {
			for _, d := range vs.Destinations {
				if d.FQDN == dr.FQDN && d.Subset != "" {
					add(vs, d)
				}
			}
		}
	case KindServiceEntry:
		se := serviceEntryFrom(obj)
		for _, h := range se.Hosts {
			for _, vs := range inv.VirtualServicesRoutingTo(h) {
				for _, d := range vs.Destinations {
					if d.FQDN == h {
						add(vs, d)
					}
				}
			}
		}
	case KindGateway:
		for _, vs := range inv.VirtualServicesBoundTo(obj.Namespace(), obj.Name()) {
			out = append(out, UseFacts{VirtualService: key(vs.Namespace, vs.Name), Namespace: vs.Namespace})
		}
	}
	return out
}
