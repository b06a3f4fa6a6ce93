package policies

import (
	"fmt"
	"sort"
	"strings"
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

// The input document: see docs/policies.md. Field names are the contract
// for user policies, so they are spelled out here once.
const (
	inKind      = "kind"
	inOperation = "operation"
	inObject    = "object"
	inOldObject = "oldObject"
	inSettings  = "settings"
	inFacts     = "facts"
)

// buildInput assembles the input document for one review: the object as
// written plus compact facts resolved from the inventory, so the policies
// never search the inventory themselves.
func buildInput(r Review, inv Inventory, s Settings) map[string]any {
	obj := r.subject()
	ns := obj.Namespace()
	facts := map[string]any{"namespace": ns}
	switch obj.Kind() {
	case KindVirtualService:
		spec := obj.Spec()
		hosts := map[string]any{}
		for _, d := range DestinationRefs(spec) {
			if _, done := hosts[d.Host]; !done {
				hosts[d.Host] = hostFacts(d.Host, ns, inv, s)
			}
		}
		facts["hosts"] = hosts
		facts["gateways"] = gatewayFacts(obj, inv, s)
	case KindDestinationRule:
		host := str(obj.Spec()["host"])
		if host != "" {
			facts["hosts"] = map[string]any{host: hostFacts(host, ns, inv, s)}
		}
	}
	if r.Operation == OperationUpdate || r.Operation == OperationDelete {
		facts["usedBy"] = usedByFacts(r, inv, s)
	}
	in := map[string]any{
		inKind:      obj.Kind(),
		inOperation: string(r.Operation),
		inSettings: map[string]any{
			"clusterDomain": s.ClusterDomain,
			"rootNamespace": s.RootNamespace,
		},
		inFacts: facts,
	}
	if r.Object != nil {
		in[inObject] = r.Object.Raw
	}
	if r.OldObject != nil {
		in[inOldObject] = r.OldObject.Raw
	}
	return in
}

// hostFacts resolves a destination host written in namespace ns the way
// Istio's sidecars in ns would: to a Service or ServiceEntry visible from
// ns, and to the DestinationRule that ns actually gets for it.
func hostFacts(host, ns string, inv Inventory, s Settings) map[string]any {
	fqdn := ResolveHost(host, ns, s.ClusterDomain)
	f := map[string]any{"fqdn": fqdn, "resolved": false, "kind": ""}
	var hidden []string
	serviceNS := ""
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil {
			if ExportedTo(svc.ExportTo, svcNS, ns) {
				f["resolved"], f["kind"], f["name"] = true, KindService, key(svcNS, name)
				f["ports"] = portFacts(svc.Ports)
				serviceNS = svcNS
				addWorkloadFacts(f, svc, inv)
			} else {
				hidden = append(hidden, fmt.Sprintf("Service %s/%s (networking.istio.io/exportTo: %s)", svcNS, name, strings.Join(svc.ExportTo, ",")))
			}
		}
	}
	if f["resolved"] == false {
		for _, se := range inv.ServiceEntriesForHost(fqdn) {
			if ExportedTo(se.ExportTo, se.Namespace, ns) {
				f["resolved"], f["kind"], f["name"] = true, KindServiceEntry, key(se.Namespace, se.Name)
				f["ports"] = portFacts(se.Ports)
				serviceNS = se.Namespace
				break
			}
			hidden = append(hidden, fmt.Sprintf("ServiceEntry %s/%s (exportTo: %s)", se.Namespace, se.Name, strings.Join(se.ExportTo, ",")))
		}
	}
	if f["resolved"] == false {
		f["hiddenBy"] = toAny(hidden)
		f["candidates"] = toAny(candidateHosts(host, ns, inv, s))
	}
	addDestinationRuleFacts(f, fqdn, ns, serviceNS, inv, s)
	return f
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
	sort.Strings(out)
	return out
}

func portFacts(ports []ServicePort) []any {
	out := make([]any, 0, len(ports))
	for _, p := range ports {
		out = append(out, map[string]any{"name": p.Name, "number": p.Number, "protocol": p.Protocol})
	}
	return out
}

// addWorkloadFacts records whether workloads of the service's namespace are
// known, so a subset selecting none of them can be told from "no pods given".
func addWorkloadFacts(f map[string]any, svc *Service, inv Inventory) {
	_, known := inv.Workloads(svc.Namespace)
	f["workloadsKnown"] = known
}

// addDestinationRuleFacts finds the DestinationRule that sidecars in client
// namespace ns apply to fqdn: Istio looks in ns, then in the namespace of
// the service, then in the root namespace, taking the first namespace that
// has a rule exported to ns; several rules for the same host there merge
// their subsets, the first definition of a name winning.
func addDestinationRuleFacts(f map[string]any, fqdn, ns, serviceNS string, inv Inventory, s Settings) {
	tiers := []string{ns}
	if serviceNS != "" && serviceNS != ns {
		tiers = append(tiers, serviceNS)
	}
	if s.RootNamespace != "" && s.RootNamespace != ns && s.RootNamespace != serviceNS {
		tiers = append(tiers, s.RootNamespace)
	}
	var applied []*DestinationRule
	var others []any
	for _, tier := range tiers {
		for _, dr := range inv.DestinationRulesFor(tier, fqdn) {
			switch {
			case !ExportedTo(dr.ExportTo, dr.Namespace, ns):
				others = append(others, otherRule(dr, "its exportTo ["+strings.Join(dr.ExportTo, ", ")+"] does not include namespace "+ns))
			case len(applied) > 0 && (applied[0].Namespace != dr.Namespace || applied[0].FQDN != dr.FQDN):
				others = append(others, otherRule(dr, "namespace "+ns+" gets "+applied[0].Namespace+"/"+applied[0].Name+" instead"))
			default:
				applied = append(applied, dr)
			}
		}
	}
	// Rules elsewhere for the host explain a missing subset as well.
	seen := map[*DestinationRule]bool{}
	for _, dr := range applied {
		seen[dr] = true
	}
	for _, dr := range inv.DestinationRulesForAnywhere(fqdn) {
		if !seen[dr] && !containsRule(others, dr) && !containsString(tiers, dr.Namespace) {
			others = append(others, otherRule(dr, "namespace "+dr.Namespace+" is not one namespace "+ns+" takes DestinationRules from"))
		}
	}
	if len(others) > 0 {
		f["otherDestinationRules"] = others
	}
	if len(applied) == 0 {
		return
	}
	subsets := map[string]any{}
	var names, refs []string
	workloads, known := []map[string]string(nil), false
	selector := map[string]string(nil)
	if svcNS, name, ok := ServiceFromFQDN(fqdn, s.ClusterDomain); ok {
		if svc := inv.Service(svcNS, name); svc != nil {
			workloads, known = inv.Workloads(svcNS)
			selector = svc.Selector
		}
	}
	for _, dr := range applied {
		refs = append(refs, key(dr.Namespace, dr.Name))
		for _, sub := range dr.Subsets {
			if _, dup := subsets[sub.Name]; dup {
				continue
			}
			names = append(names, sub.Name)
			sf := map[string]any{"labels": toAnyMap(sub.Labels), "definedBy": key(dr.Namespace, dr.Name)}
			if known {
				sf["workloads"] = countMatching(workloads, selector, sub.Labels)
			}
			subsets[sub.Name] = sf
		}
	}
	f["destinationRule"] = map[string]any{
		"names":       toAny(refs),
		"host":        applied[0].Host,
		"subsets":     subsets,
		"subsetNames": toAny(names),
	}
}

func otherRule(dr *DestinationRule, why string) map[string]any {
	return map[string]any{"name": key(dr.Namespace, dr.Name), "subsetNames": toAny(dr.SubsetNames()), "reason": why}
}

func containsRule(others []any, dr *DestinationRule) bool {
	for _, o := range others {
		if o.(map[string]any)["name"] == key(dr.Namespace, dr.Name) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, it := range list {
		if it == s {
			return true
		}
	}
	return false
}

// countMatching counts workloads selected by both the Service's selector
// and the subset's labels.
func countMatching(workloads []map[string]string, selector, labels map[string]string) int {
	n := 0
	for _, w := range workloads {
		if selects(selector, w) && selects(labels, w) {
			n++
		}
	}
	return n
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
func gatewayFacts(obj *Object, inv Inventory, s Settings) map[string]any {
	ns := obj.Namespace()
	spec := obj.Spec()
	vsHosts := stringSlice(spec["hosts"])
	exportTo := stringSlice(spec["exportTo"])
	out := map[string]any{}
	for _, ref := range GatewayRefs(spec) {
		if _, done := out[ref.Name]; done || ref.Name == MeshGateway {
			continue
		}
		k := GatewayKey(ref.Name, ns)
		gwNS, gwName, _ := strings.Cut(k, "/")
		g := map[string]any{"key": k, "namespace": gwNS, "name": gwName, "exists": false}
		out[ref.Name] = g
		gw := inv.Gateway(gwNS, gwName)
		if gw == nil {
			continue
		}
		g["exists"] = true
		g["visible"] = ExportedTo(exportTo, ns, gwNS)
		var served, unserved, serverHosts []string
		for _, srv := range gw.Servers {
			serverHosts = append(serverHosts, srv.Hosts...)
		}
		for _, h := range vsHosts {
			fq := ResolveHost(h, ns, s.ClusterDomain)
			if gatewayAccepts(gw, ns, fq) {
				served = append(served, h)
			} else {
				unserved = append(unserved, h)
			}
		}
		g["servedHosts"], g["unservedHosts"], g["serverHosts"] = toAny(served), toAny(unserved), toAny(serverHosts)
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
func usedByFacts(r Review, inv Inventory, s Settings) []any {
	obj := r.subject()
	var out []any
	add := func(vs *VirtualService, d Destination) {
		out = append(out, map[string]any{"virtualService": key(vs.Namespace, vs.Name), "namespace": vs.Namespace, "host": d.FQDN, "subset": d.Subset, "field": d.Field})
	}
	switch obj.Kind() {
	case KindDestinationRule:
		dr := destinationRuleFrom(obj, s.ClusterDomain)
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
			out = append(out, map[string]any{"virtualService": key(vs.Namespace, vs.Name), "namespace": vs.Namespace})
		}
	}
	return out
}

func toAny(items []string) []any {
	out := make([]any, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
