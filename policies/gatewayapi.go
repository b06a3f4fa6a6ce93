package policies

import (
	"strconv"
)

// Gateway API kinds. Istio's networking.istio.io Gateway and the Gateway
// API Gateway share the kind name "Gateway", so Gateway API objects are
// always told apart by their group.
const (
	GatewayAPIGroup    = "gateway.networking.k8s.io"
	KindHTTPRoute      = "HTTPRoute"
	KindGRPCRoute      = "GRPCRoute"
	KindReferenceGrant = "ReferenceGrant"
	// KindHostname is the backendRef kind (group networking.istio.io) by
	// which Istio routes to a host a ServiceEntry or Service provides.
	KindHostname = "Hostname"
)

// IsGatewayAPIRoute reports whether the object is a Gateway API route the
// policies review.
func (o *Object) IsGatewayAPIRoute() bool {
	if o.Group() != GatewayAPIGroup {
		return false
	}
	return o.Kind() == KindHTTPRoute || o.Kind() == KindGRPCRoute
}

// IsReviewed reports whether the built-in policies review the object:
// the Istio networking kinds and the Gateway API routes.
func (o *Object) IsReviewed() bool { return o.IsIstioNetworking() || o.IsGatewayAPIRoute() }

// IsRouteReferenced reports whether Gateway API routes may depend on the
// object: a core Service (a backend or parent), a Gateway API Gateway (a
// parent) or a ReferenceGrant. Its updates and deletes are reviewed for
// the routes they break; creating one breaks nothing.
func (o *Object) IsRouteReferenced() bool {
	if o.IsCoreService() {
		return true
	}
	return o.Group() == GatewayAPIGroup && (o.Kind() == KindGateway || o.Kind() == KindReferenceGrant)
}

// Reviewed reports whether the built-in policies review r: an object of
// a reviewed kind, or an update or delete of one routes may depend on.
func (r Review) Reviewed() bool {
	obj := r.subject()
	if obj == nil {
		return false
	}
	return obj.IsReviewed() || (r.Operation != OperationCreate && obj.IsRouteReferenced())
}

// kubeGatewayScope is the kind a Gateway API Gateway is reviewed as:
// packages name it apart from Istio's Gateway.
const kubeGatewayScope = GatewayAPIGroup + "/" + KindGateway

// scopeKind is the kind that selects the packages reviewing obj.
func scopeKind(obj *Object) string {
	if obj.Group() == GatewayAPIGroup && obj.Kind() == KindGateway {
		return kubeGatewayScope
	}
	return obj.Kind()
}

// KubeGateway is a Gateway API Gateway: what a route's parentRef binds to.
type KubeGateway struct {
	Namespace, Name string
	Listeners       []GatewayListener
}

// GatewayListener is one listener of a Gateway API Gateway.
type GatewayListener struct {
	Name     string
	Port     int64
	Protocol string
	// From is allowedRoutes.namespaces.from: Same (the default), All or
	// Selector.
	From string
	// Kinds are allowedRoutes.kinds by kind name; empty means the kinds
	// the protocol carries.
	Kinds []string
}

// admits reports whether the listener takes a route of kind from namespace
// routeNS. A namespace selector is not judged: namespaces' labels are not
// in the inventory, so it is taken to admit.
func (l GatewayListener) admits(gwNS, routeNS, kind string) bool {
	switch l.From {
	case "", "Same":
		if gwNS != routeNS {
			return false
		}
	case "All", "Selector":
	default:
		return false
	}
	if len(l.Kinds) > 0 {
		return containsString(l.Kinds, kind)
	}
	// Without kinds, HTTP and HTTPS listeners carry HTTP and gRPC routes.
	return l.Protocol == "HTTP" || l.Protocol == "HTTPS"
}

// ReferenceGrant lets objects of other namespaces refer to objects of its
// namespace.
type ReferenceGrant struct {
	Namespace, Name string
	From            []GrantFrom
	To              []GrantTo
}

// GrantFrom is who a ReferenceGrant lets refer.
type GrantFrom struct{ Group, Kind, Namespace string }

// GrantTo is what a ReferenceGrant lets them refer to; Name "" is any.
type GrantTo struct{ Group, Kind, Name string }

// allows reports whether the grant lets a fromKind of namespace fromNS
// (group gateway.networking.k8s.io) refer to the object toGroup/toKind toName.
func (g *ReferenceGrant) allows(fromKind, fromNS, toGroup, toKind, toName string) bool {
	from := false
	for _, f := range g.From {
		if f.Group == GatewayAPIGroup && f.Kind == fromKind && f.Namespace == fromNS {
			from = true
			break
		}
	}
	if !from {
		return false
	}
	for _, t := range g.To {
		if t.Group == toGroup && t.Kind == toKind && (t.Name == "" || t.Name == toName) {
			return true
		}
	}
	return false
}

func kubeGatewayFrom(obj *Object) *KubeGateway {
	gw := &KubeGateway{Namespace: obj.Namespace(), Name: obj.Name()}
	ls, _ := obj.Spec()["listeners"].([]any)
	for _, it := range ls {
		m, _ := it.(map[string]any)
		l := GatewayListener{Name: str(m["name"]), Protocol: str(m["protocol"])}
		l.Port, _ = intValue(m["port"])
		allowed := mapAt(m, "allowedRoutes")
		l.From = str(mapAt(allowed, "namespaces")["from"])
		kinds, _ := allowed["kinds"].([]any)
		for _, k := range kinds {
			km, _ := k.(map[string]any)
			l.Kinds = append(l.Kinds, str(km["kind"]))
		}
		gw.Listeners = append(gw.Listeners, l)
	}
	return gw
}

func referenceGrantFrom(obj *Object) *ReferenceGrant {
	g := &ReferenceGrant{Namespace: obj.Namespace(), Name: obj.Name()}
	spec := obj.Spec()
	from, _ := spec["from"].([]any)
	for _, it := range from {
		m, _ := it.(map[string]any)
		g.From = append(g.From, GrantFrom{Group: str(m["group"]), Kind: str(m["kind"]), Namespace: str(m["namespace"])})
	}
	to, _ := spec["to"].([]any)
	for _, it := range to {
		m, _ := it.(map[string]any)
		g.To = append(g.To, GrantTo{Group: str(m["group"]), Kind: str(m["kind"]), Name: str(m["name"])})
	}
	return g
}

// ParentRefShape is one spec.parentRefs entry of a route as written.
type ParentRefShape struct {
	Field                                 string
	Group, Kind, Namespace, Name, Section string
	Port                                  int64
	HasPort                               bool
}

// BackendRefShape is one backendRef of a route rule as written.
type BackendRefShape struct {
	Field                        string
	Group, Kind, Namespace, Name string
	Port, Weight                 int64
	HasPort, HasWeight           bool
	// Dropped: weight 0, which pilot leaves out (with no weight above 0
	// in the rule, it answers 500 itself: MESH0808).
	Dropped bool
}

// BackendRuleShape is the weights of one rule's backendRefs (1 where no
// weight is written, as the specification says).
type BackendRuleShape struct {
	Field   string
	Weights []int64
	// Written: some backendRef has a weight written. Unwritten weights
	// split the traffic evenly, which is meant, whatever their sum.
	Written bool
}

// gatewayRoute walks an HTTPRoute or GRPCRoute: its parentRefs and the
// backendRefs of its rules.
func (w *shapeWalker) gatewayRoute(spec map[string]any) {
	w.eachObject(spec, "parentRefs", "spec.parentRefs", "", func(f string, m map[string]any) {
		p := ParentRefShape{Field: f, Group: GatewayAPIGroup, Kind: "Gateway"}
		if !w.refNames(f, m, &p.Group, &p.Kind, &p.Namespace, &p.Name) {
			return
		}
		sv, hs := get(m, "sectionName")
		sec, ok := w.str(at(f, ".sectionName"), sv, hs)
		if hs && !ok {
			return
		}
		p.Section = sec
		pv, hp := get(m, "port")
		port, ok := w.integer(at(f, ".port"), pv, hp)
		if hp && !ok {
			return
		}
		p.Port, p.HasPort = port, hp
		w.s.ParentRefs = append(w.s.ParentRefs, p)
	})
	w.eachObject(spec, "rules", "spec.rules", "", func(rf string, rule map[string]any) {
		bv, hb := get(rule, "backendRefs")
		refs, ok := w.array(at(rf, ".backendRefs"), bv, hb)
		if !ok {
			return
		}
		first := len(w.s.BackendRefs)
		wellFormed := true
		for j, it := range refs {
			f := rf + ".backendRefs[" + strconv.Itoa(j) + "]"
			m, ok := w.object(at(f, ""), it, true)
			if !ok {
				wellFormed = false
				continue
			}
			b := BackendRefShape{Field: f, Kind: KindService}
			if !w.refNames(f, m, &b.Group, &b.Kind, &b.Namespace, &b.Name) {
				wellFormed = false
				continue
			}
			pv, hp := get(m, "port")
			port, ok := w.integer(at(f, ".port"), pv, hp)
			if hp && !ok {
				wellFormed = false
				continue
			}
			if !hp && b.Kind == KindService && b.Group == "" {
				// pilot refuses a Service backendRef without a port.
				w.s.Missing = append(w.s.Missing, f+".port")
			}
			b.Port, b.HasPort = port, hp
			wv, hw := get(m, "weight")
			weight, ok := w.integer(at(f, ".weight"), wv, hw)
			if hw && !ok {
				wellFormed = false
				continue
			}
			b.Weight, b.HasWeight = weight, hw
			if !hw {
				b.Weight = 1
			}
			w.s.BackendRefs = append(w.s.BackendRefs, b)
		}
		if !wellFormed || len(refs) == 0 {
			return
		}
		r := BackendRuleShape{Field: rf + ".backendRefs"}
		for k := first; k < len(w.s.BackendRefs); k++ {
			r.Weights = append(r.Weights, w.s.BackendRefs[k].Weight)
			r.Written = r.Written || w.s.BackendRefs[k].HasWeight
		}
		for k := first; k < len(w.s.BackendRefs); k++ {
			w.s.BackendRefs[k].Dropped = w.s.BackendRefs[k].Weight == 0
		}
		w.s.BackendRules = append(w.s.BackendRules, r)
	})
}

// refNames reads group, kind, namespace and name of an object reference
// (parentRef or backendRef) over the defaults already in place; false
// when one is not a string or the name is missing.
func (w *shapeWalker) refNames(f string, m map[string]any, group, kind, ns, name *string) bool {
	ok := true
	for _, it := range []struct {
		key string
		to  *string
	}{{"group", group}, {"kind", kind}, {"namespace", ns}, {"name", name}} {
		v, has := get(m, it.key)
		s, good := w.str(at(f, "."+it.key), v, has)
		switch {
		case has && !good:
			ok = false
		case has:
			*it.to = s
		}
	}
	if nv, has := get(m, "name"); !has || nv == "" {
		w.required(at(f, ".name"), nv, has)
		return false
	}
	return ok
}

// BackendRefFacts say what one backendRef of a route resolves to.
type BackendRefFacts struct {
	BackendRefShape
	// Supported: a kind Istio routes to (Service, or Hostname of
	// networking.istio.io).
	Supported bool
	// CrossNamespace: another namespace than the route's; Permitted: a
	// ReferenceGrant there allows it (always true within the namespace).
	CrossNamespace, Permitted bool
	Exists, PortExists        bool
	// Visible: the Service's networking.istio.io/exportTo includes the
	// route's namespace, whose sidecars judge it (a hidden Service has no
	// cluster there).
	Visible bool
}

// ParentRefFacts say what one parentRef of a route binds to.
type ParentRefFacts struct {
	ParentRefShape
	// Supported: a Gateway of the Gateway API group or a core Service.
	Supported bool
	Exists    bool
	// Visible: a Service parent is exported to the route's namespace; a
	// hidden one has no virtual host there to carry the route.
	Visible bool
	// ListenerFound: a listener (or, for a Service, a port) matches the
	// sectionName and port written, or none is written.
	ListenerFound bool
	// Admitted: such a listener's allowedRoutes takes the route.
	Admitted bool
}

// routeFacts resolves the references of a Gateway API route.
func routeFacts(obj *Object, shape *Shape, f *Facts, inv Inventory, s Settings, cache *hostCache) {
	f.BackendRefs, f.ParentRefs = resolveRouteRefs(obj.Namespace(), obj.Kind(), shape.BackendRefs, shape.ParentRefs, inv, s, cache)
	f.BackendRules = shape.BackendRules
}

// resolveRouteRefs resolves the backendRefs and parentRefs of a route of
// kind in namespace ns. pilot asks for a ReferenceGrant only where it
// applies the route at a Gateway: a route bound to Services alone (mesh
// routing) may route across namespaces without one.
func resolveRouteRefs(ns, kind string, backends []BackendRefShape, parents []ParentRefShape, inv Inventory, s Settings, cache *hostCache) ([]BackendRefFacts, []ParentRefFacts) {
	var pfs []ParentRefFacts
	for _, p := range parents {
		pf := ParentRefFacts{ParentRefShape: p}
		if pf.Namespace == "" {
			pf.Namespace = ns
		}
		switch {
		case p.Group == GatewayAPIGroup && p.Kind == "Gateway":
			pf.Supported = true
			if gw := inv.KubeGateway(pf.Namespace, p.Name); gw != nil {
				pf.Exists, pf.Visible = true, true
				for _, l := range gw.Listeners {
					if (p.Section != "" && l.Name != p.Section) || (p.HasPort && l.Port != p.Port) {
						continue
					}
					pf.ListenerFound = true
					if l.admits(gw.Namespace, ns, kind) {
						pf.Admitted = true
					}
				}
			}
		case (p.Group == "" || p.Group == "core") && p.Kind == KindService:
			pf.Supported = true
			if svc := inv.Service(pf.Namespace, p.Name); svc != nil {
				pf.Exists = true
				pf.Visible = ExportedTo(svc.ExportTo, svc.Namespace, ns)
				pf.ListenerFound = servesHTTP(svc.Ports, p.Port, p.HasPort)
				pf.Admitted = true
			}
		}
		pfs = append(pfs, pf)
	}
	viaGateway := false
	for _, pf := range pfs {
		viaGateway = viaGateway || (pf.Kind == KindGateway && pf.bound())
	}
	var bfs []BackendRefFacts
	for _, b := range backends {
		bf := BackendRefFacts{BackendRefShape: b, Permitted: true}
		if bf.Namespace == "" {
			bf.Namespace = ns
		}
		switch {
		case b.Group == "" && b.Kind == KindService:
			bf.Supported = true
			if bf.Namespace != ns {
				bf.CrossNamespace = true
				bf.Permitted = !viaGateway || granted(inv, kind, ns, bf.Namespace, "", KindService, b.Name)
			}
			if svc := inv.Service(bf.Namespace, b.Name); svc != nil {
				bf.Exists = true
				bf.Visible = ExportedTo(svc.ExportTo, svc.Namespace, ns)
				bf.PortExists = hasPort(svc.Ports, b.Port)
			}
		case b.Group == IstioNetworkingGroup && b.Kind == KindHostname:
			bf.Supported = true
			h := cache.hostFacts(b.Name, ns, inv, s)
			bf.Exists, bf.Visible = h.Resolved, h.Resolved
			bf.PortExists = h.Resolved && hasPort(h.Ports, b.Port)
		}
		bfs = append(bfs, bf)
	}
	return bfs, pfs
}

// works reports whether pilot routes to the backendRef: what none of
// MESH0801-0803 finds, and not left out for its weight 0.
func (b BackendRefFacts) works() bool {
	return !b.Dropped && b.Supported && b.Permitted && b.Exists && b.Visible && (!b.HasPort || b.PortExists)
}

// bound reports whether pilot binds the route to the parent: what none of
// MESH0804-0806 finds.
func (p ParentRefFacts) bound() bool {
	return p.Supported && p.Exists && p.Visible && p.ListenerFound && p.Admitted
}

// KubeRoute is what the referenced side needs of an HTTPRoute or
// GRPCRoute: its references as written.
type KubeRoute struct {
	Kind, Namespace, Name string
	BackendRefs           []BackendRefShape
	ParentRefs            []ParentRefShape
}

func kubeRouteFrom(obj *Object) *KubeRoute {
	shape := obj.shape()
	return &KubeRoute{Kind: obj.Kind(), Namespace: obj.Namespace(), Name: obj.Name(), BackendRefs: shape.BackendRefs, ParentRefs: shape.ParentRefs}
}

// namespaces lists the namespaces the route refers to objects in.
func (r *KubeRoute) namespaces() []string {
	var out []string
	add := func(ns string) {
		if ns == "" {
			ns = r.Namespace
		}
		if !containsString(out, ns) {
			out = append(out, ns)
		}
	}
	for _, b := range r.BackendRefs {
		add(b.Namespace)
	}
	for _, p := range r.ParentRefs {
		add(p.Namespace)
	}
	return out
}

// RouteUseFacts is one place of a route that works now and that an
// UPDATE or DELETE of the object under review breaks.
type RouteUseFacts struct {
	// Route is "HTTPRoute namespace/name"; Field the backendRef or
	// parentRef.
	Route, Namespace, Field string
}

// routeUseFacts lists the backendRefs and parentRefs of the routes
// referring to the namespace of the object under review that pilot routes
// or binds with the stored object and would not with the new one (or
// without it, on DELETE): the same resolution as MESH0801-0806, once over
// each version.
func routeUseFacts(r Review, inv Inventory, s Settings) []RouteUseFacts {
	subject := r.subject()
	old := r.OldObject
	if old == nil {
		old = subject
	}
	var now *Object
	if r.Operation != OperationDelete {
		now = r.Object
	}
	before := changeView{Inventory: inv, subject: subject, now: old}
	after := changeView{Inventory: inv, subject: subject, now: now}
	var out []RouteUseFacts
	for _, rt := range inv.RoutesReferringTo(subject.Namespace()) {
		name := rt.Kind + " " + key(rt.Namespace, rt.Name)
		b0, p0 := resolveRouteRefs(rt.Namespace, rt.Kind, rt.BackendRefs, rt.ParentRefs, before, s, nil)
		b1, p1 := resolveRouteRefs(rt.Namespace, rt.Kind, rt.BackendRefs, rt.ParentRefs, after, s, nil)
		for i := range b0 {
			if b0[i].works() && !b1[i].works() {
				out = append(out, RouteUseFacts{Route: name, Namespace: rt.Namespace, Field: b0[i].Field})
			}
		}
		for i := range p0 {
			if p0[i].bound() && !p1[i].bound() {
				out = append(out, RouteUseFacts{Route: name, Namespace: rt.Namespace, Field: p0[i].Field})
			}
		}
	}
	return out
}

// changeView is the inventory with one Service, Gateway API Gateway or
// ReferenceGrant (subject) as now says: nil for deleted.
type changeView struct {
	Inventory
	subject, now *Object
}

func (v changeView) is(ns, name string) bool {
	return v.subject.Namespace() == ns && v.subject.Name() == name
}

// Service implements Inventory.
func (v changeView) Service(namespace, name string) *Service {
	if !v.subject.IsCoreService() || !v.is(namespace, name) {
		return v.Inventory.Service(namespace, name)
	}
	if v.now == nil {
		return nil
	}
	return serviceFrom(v.now)
}

// KubeGateway implements Inventory.
func (v changeView) KubeGateway(namespace, name string) *KubeGateway {
	if scopeKind(v.subject) != kubeGatewayScope || !v.is(namespace, name) {
		return v.Inventory.KubeGateway(namespace, name)
	}
	if v.now == nil {
		return nil
	}
	return kubeGatewayFrom(v.now)
}

// ReferenceGrantsIn implements Inventory.
func (v changeView) ReferenceGrantsIn(namespace string) []*ReferenceGrant {
	grants := v.Inventory.ReferenceGrantsIn(namespace)
	if v.subject.Group() != GatewayAPIGroup || v.subject.Kind() != KindReferenceGrant || v.subject.Namespace() != namespace {
		return grants
	}
	var out []*ReferenceGrant
	for _, g := range grants {
		if g.Name != v.subject.Name() {
			out = append(out, g)
		}
	}
	if v.now != nil {
		out = append(out, referenceGrantFrom(v.now))
	}
	return out
}

// servesHTTP reports whether a Service parent's port n (any port, without
// one) carries HTTP routes: pilot applies a mesh route only to the
// Service's HTTP ports, so one bound to a TCP or TLS port does nothing.
func servesHTTP(ports []ServicePort, n int64, has bool) bool {
	for _, p := range ports {
		if (!has || p.Number == n) && carriesHTTPRoutes(KindService, p) {
			return true
		}
	}
	return false
}

func hasPort(ports []ServicePort, n int64) bool {
	for _, p := range ports {
		if p.Number == n {
			return true
		}
	}
	return false
}

// granted reports whether a ReferenceGrant of namespace toNS lets a route
// of kind routeKind in routeNS refer to the object toGroup/toKind toName.
func granted(inv Inventory, routeKind, routeNS, toNS, toGroup, toKind, toName string) bool {
	for _, g := range inv.ReferenceGrantsIn(toNS) {
		if g.allows(routeKind, routeNS, toGroup, toKind, toName) {
			return true
		}
	}
	return false
}
