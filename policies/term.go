package policies

import (
	"sort"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The policy input is built straight into OPA's AST: converting Go maps
// with ast.InterfaceToValue cost more than evaluating the policies.

// inputKeys are interned once so building an input allocates no key terms.
var inputKeys = []string{
	"kind", "operation", "settings", "clusterDomain", "rootNamespace", "facts", "object", "oldObject",
	"namespace", "malformed", "missing", "destinations", "routes", "hosts", "gateways", "exportTo",
	"subsetNames", "oldSubsetNames", "usedBy", "field", "want", "got", "weights", "targets",
	"host", "subset", "port", "portKey", "weight", "mirror", "fqdn", "resolved", "name", "ports",
	"portSet", "hiddenBy", "candidates", "workloadsKnown", "otherDestinationRules", "reason",
	"destinationRule", "names", "subsets", "labels", "definedBy", "workloads", "number", "protocol",
	"ref", "key", "exists", "visible", "servedHosts", "unservedHosts", "serverHosts", "virtualService",
	"byHost", "meshBound", "listenerPorts", "via", "sidecar", "reach", "dropped", "wildcard",
	"backendRefs", "parentRefs", "backendRules", "supported", "crossNamespace", "permitted", "portExists",
	"listenerFound", "admitted", "sectionName", "hasPort", "written", "routeUses", "route", "HTTPRoute", "GRPCRoute",
	"", "Service", "ServiceEntry", "VirtualService", "DestinationRule", "Gateway", "CREATE", "UPDATE", "DELETE",
}

func init() { ast.InternStringTerm(inputKeys...) }

func strTerm(s string) *ast.Term { return ast.InternedTerm(s) }

func item(k string, v *ast.Term) [2]*ast.Term { return [2]*ast.Term{ast.InternedTerm(k), v} }

// arrayTerm and objectTerm share OPA's interned empty array and object:
// most lists of the facts are empty, and terms are never changed once built.
func arrayTerm(items ...*ast.Term) *ast.Term {
	if len(items) == 0 {
		return ast.InternedEmptyArray
	}
	return ast.ArrayTerm(items...)
}

func objectTerm(items ...[2]*ast.Term) *ast.Term {
	if len(items) == 0 {
		return ast.InternedEmptyObject
	}
	return ast.ObjectTerm(items...)
}

func strings2Term(items []string) *ast.Term {
	if len(items) == 0 {
		return ast.InternedEmptyArray
	}
	terms := make([]*ast.Term, len(items))
	for i, s := range items {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func labelsTerm(m map[string]string) *ast.Term {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	items := make([][2]*ast.Term, len(keys))
	for i, k := range keys {
		items[i] = item(k, strTerm(m[k]))
	}
	return objectTerm(items...)
}

func intOrNull(n int64, ok bool) *ast.Term {
	if !ok {
		return ast.NullTerm()
	}
	return ast.IntNumberTerm(int(n))
}

// settingsTerm is input.settings, the same for every review of an engine.
func settingsTerm(s Settings) *ast.Term {
	return ast.ObjectTerm(
		item("clusterDomain", strTerm(s.ClusterDomain)),
		item("rootNamespace", strTerm(s.RootNamespace)),
	)
}

// inputTerm builds the input document of one review, settings being
// settingsTerm's. withObjects adds the objects as written, which only user
// policies read.
func inputTerm(r Review, f *Facts, settings *ast.Term, withObjects bool) (*ast.Term, error) {
	obj := r.subject()
	items := [][2]*ast.Term{
		item("kind", strTerm(obj.Kind())),
		item("operation", strTerm(string(r.Operation))),
		item("settings", settings),
		item("facts", f.term()),
	}
	if withObjects {
		for name, o := range map[string]*Object{"object": r.Object, "oldObject": r.OldObject} {
			if o == nil {
				continue
			}
			v, err := ast.InterfaceToValue(o.Raw)
			if err != nil {
				return nil, err
			}
			items = append(items, item(name, ast.NewTerm(v)))
		}
	}
	return ast.ObjectTerm(items...), nil
}

func (f *Facts) term() *ast.Term {
	malformed := make([]*ast.Term, len(f.Malformed))
	for i, m := range f.Malformed {
		malformed[i] = objectTerm(item("field", strTerm(m.Field)), item("want", strTerm(m.Want)), item("got", strTerm(m.Got)))
	}
	dests := make([]*ast.Term, len(f.Destinations))
	for i, d := range f.Destinations {
		dests[i] = destinationTerm(d)
	}
	routes := make([]*ast.Term, len(f.Routes))
	// Route destinations are among the destinations in the same order (with
	// mirrors in between), so one pass finds each one's term.
	next := 0
	for i, r := range f.Routes {
		rd := make([]*ast.Term, len(r.Destinations))
		weights := make([]*ast.Term, len(r.Destinations))
		targets := make([]*ast.Term, len(r.Destinations))
		for j, d := range r.Destinations {
			for next < len(f.Destinations) && f.Destinations[next].Field != d.Field {
				next++
			}
			if next < len(f.Destinations) {
				rd[j] = dests[next]
			} else {
				rd[j] = destinationTerm(d)
			}
			weights[j] = ast.IntNumberTerm(int(d.Weight))
			targets[j] = strTerm(d.Host + "|" + d.Subset + "|" + portKey(d))
		}
		routes[i] = objectTerm(
			item("field", strTerm(r.Field)),
			item("destinations", arrayTerm(rd...)),
			item("weights", arrayTerm(weights...)),
			item("targets", arrayTerm(targets...)),
		)
	}
	hosts, hostKeys := hostsTerm(f.Hosts)
	gateways := make([]*ast.Term, len(f.Gateways))
	for i, g := range f.Gateways {
		gateways[i] = objectTerm(
			item("ref", strTerm(g.Ref)), item("field", strTerm(g.Field)), item("key", strTerm(g.Key)),
			item("namespace", strTerm(g.Namespace)), item("name", strTerm(g.Name)),
			item("exists", ast.BooleanTerm(g.Exists)), item("visible", ast.BooleanTerm(g.Visible)),
			item("servedHosts", strings2Term(g.ServedHosts)), item("unservedHosts", strings2Term(g.UnservedHosts)),
			item("serverHosts", strings2Term(g.ServerHosts)),
		)
	}
	byHost := make([][2]*ast.Term, len(hostKeys))
	for i, h := range hostKeys {
		idx := f.ByHost[h]
		terms := make([]*ast.Term, len(idx))
		for j, n := range idx {
			terms[j] = ast.IntNumberTerm(n)
		}
		byHost[i] = item(h, arrayTerm(terms...))
	}
	reach := make([]*ast.Term, len(f.Reach))
	for i, r := range f.Reach {
		hs, _ := hostsTerm(r.Hosts)
		reach[i] = objectTerm(item("namespace", strTerm(r.Namespace)), item("hosts", hs), item("listenerPorts", listenersTerm(r.ListenerPorts)))
	}
	used := make([]*ast.Term, len(f.UsedBy))
	for i, u := range f.UsedBy {
		used[i] = objectTerm(
			item("virtualService", strTerm(u.VirtualService)), item("namespace", strTerm(u.Namespace)),
			item("host", strTerm(u.Host)), item("subset", strTerm(u.Subset)), item("field", strTerm(u.Field)),
		)
	}
	return objectTerm(
		item("namespace", strTerm(f.Namespace)),
		item("malformed", arrayTerm(malformed...)),
		item("missing", strings2Term(f.Missing)),
		item("destinations", arrayTerm(dests...)),
		item("routes", arrayTerm(routes...)),
		item("hosts", hosts),
		item("gateways", arrayTerm(gateways...)),
		item("exportTo", strings2Term(f.ExportTo)),
		item("byHost", objectTerm(byHost...)),
		item("meshBound", ast.BooleanTerm(f.MeshBound)),
		item("listenerPorts", listenersTerm(f.ListenerPorts)),
		item("reach", arrayTerm(reach...)),
		item("subsetNames", strings2Term(f.SubsetNames)),
		item("oldSubsetNames", strings2Term(f.OldSubsetNames)),
		item("usedBy", arrayTerm(used...)),
		item("backendRefs", backendRefsTerm(f.BackendRefs)),
		item("parentRefs", parentRefsTerm(f.ParentRefs)),
		item("backendRules", backendRulesTerm(f.BackendRules)),
		item("routeUses", routeUsesTerm(f.RouteUses)),
	)
}

func routeUsesTerm(uses []RouteUseFacts) *ast.Term {
	terms := make([]*ast.Term, len(uses))
	for i, u := range uses {
		terms[i] = objectTerm(item("route", strTerm(u.Route)), item("namespace", strTerm(u.Namespace)), item("field", strTerm(u.Field)))
	}
	return arrayTerm(terms...)
}

func backendRefsTerm(refs []BackendRefFacts) *ast.Term {
	terms := make([]*ast.Term, len(refs))
	for i, b := range refs {
		terms[i] = objectTerm(
			item("field", strTerm(b.Field)), item("kind", strTerm(b.Kind)),
			item("namespace", strTerm(b.Namespace)), item("name", strTerm(b.Name)),
			item("port", intOrNull(b.Port, b.HasPort)), item("weight", ast.IntNumberTerm(int(b.Weight))),
			item("dropped", ast.BooleanTerm(b.Dropped)), item("supported", ast.BooleanTerm(b.Supported)),
			item("crossNamespace", ast.BooleanTerm(b.CrossNamespace)), item("permitted", ast.BooleanTerm(b.Permitted)),
			item("exists", ast.BooleanTerm(b.Exists)), item("portExists", ast.BooleanTerm(b.PortExists)),
			item("visible", ast.BooleanTerm(b.Visible)),
		)
	}
	return arrayTerm(terms...)
}

func parentRefsTerm(refs []ParentRefFacts) *ast.Term {
	terms := make([]*ast.Term, len(refs))
	for i, p := range refs {
		terms[i] = objectTerm(
			item("field", strTerm(p.Field)), item("kind", strTerm(p.Kind)),
			item("namespace", strTerm(p.Namespace)), item("name", strTerm(p.Name)),
			item("sectionName", strTerm(p.Section)), item("port", intOrNull(p.Port, p.HasPort)),
			item("hasPort", ast.BooleanTerm(p.HasPort)),
			item("supported", ast.BooleanTerm(p.Supported)), item("exists", ast.BooleanTerm(p.Exists)),
			item("visible", ast.BooleanTerm(p.Visible)),
			item("listenerFound", ast.BooleanTerm(p.ListenerFound)), item("admitted", ast.BooleanTerm(p.Admitted)),
		)
	}
	return arrayTerm(terms...)
}

func backendRulesTerm(rules []BackendRuleShape) *ast.Term {
	terms := make([]*ast.Term, len(rules))
	for i, r := range rules {
		weights := make([]*ast.Term, len(r.Weights))
		for j, w := range r.Weights {
			weights[j] = ast.IntNumberTerm(int(w))
		}
		terms[i] = objectTerm(item("field", strTerm(r.Field)), item("weights", arrayTerm(weights...)), item("written", ast.BooleanTerm(r.Written)))
	}
	return arrayTerm(terms...)
}

func listenersTerm(ports []ListenerPort) *ast.Term {
	terms := make([]*ast.Term, len(ports))
	for i, p := range ports {
		terms[i] = objectTerm(item("number", ast.IntNumberTerm(int(p.Number))), item("via", strTerm(p.Via)), item("sidecar", ast.BooleanTerm(p.Sidecar)))
	}
	return arrayTerm(terms...)
}

// hostsTerm is the object of host facts by host, and the hosts in the
// order it holds them.
func hostsTerm(m map[string]*HostFacts) (*ast.Term, []string) {
	keys := make([]string, 0, len(m))
	for h := range m {
		keys = append(keys, h)
	}
	sort.Strings(keys)
	items := make([][2]*ast.Term, len(keys))
	for i, h := range keys {
		items[i] = item(h, m[h].term())
	}
	return objectTerm(items...), keys
}

func portKey(d DestinationRef) string {
	if !d.HasPort {
		return ""
	}
	return strconv.FormatInt(d.Port, 10)
}

func destinationTerm(d DestinationRef) *ast.Term {
	return objectTerm(
		item("field", strTerm(d.Field)),
		item("host", strTerm(d.Host)),
		item("subset", strTerm(d.Subset)),
		item("port", intOrNull(d.Port, d.HasPort)),
		item("portKey", strTerm(portKey(d))),
		item("weight", intOrNull(d.Weight, d.HasWeight)),
		item("mirror", ast.BooleanTerm(d.Mirror)),
		item("dropped", ast.BooleanTerm(d.Dropped)),
	)
}

func (h *HostFacts) term() *ast.Term {
	h.termOnce.Do(func() { h.asTerm = h.buildTerm() })
	return h.asTerm
}

func (h *HostFacts) buildTerm() *ast.Term {
	ports := make([]*ast.Term, len(h.Ports))
	portSet := make([][2]*ast.Term, len(h.Ports))
	for i, p := range h.Ports {
		ports[i] = objectTerm(item("name", strTerm(p.Name)), item("number", ast.IntNumberTerm(int(p.Number))), item("protocol", strTerm(p.Protocol)))
		portSet[i] = item(strconv.FormatInt(p.Number, 10), ast.BooleanTerm(true))
	}
	others := make([]*ast.Term, len(h.OtherDestinationRules))
	for i, o := range h.OtherDestinationRules {
		others[i] = objectTerm(item("name", strTerm(o.Name)), item("subsetNames", strings2Term(o.SubsetNames)), item("reason", strTerm(o.Reason)))
	}
	items := [][2]*ast.Term{
		item("fqdn", strTerm(h.FQDN)),
		item("wildcard", ast.BooleanTerm(strings.Contains(h.FQDN, "*"))),
		item("resolved", ast.BooleanTerm(h.Resolved)),
		item("kind", strTerm(h.Kind)),
		item("name", strTerm(h.Name)),
		item("ports", arrayTerm(ports...)),
		item("portSet", objectTerm(portSet...)),
		item("hiddenBy", strings2Term(h.HiddenBy)),
		item("candidates", strings2Term(h.Candidates)),
		item("workloadsKnown", ast.BooleanTerm(h.WorkloadsKnown)),
		item("otherDestinationRules", arrayTerm(others...)),
	}
	if r := h.DestinationRule; r != nil {
		subsets := make([][2]*ast.Term, len(r.SubsetNames))
		for i, name := range r.SubsetNames {
			sf := r.Subsets[name]
			subsets[i] = item(name, objectTerm(
				item("labels", labelsTerm(sf.Labels)),
				item("definedBy", strTerm(sf.DefinedBy)),
				item("workloads", ast.IntNumberTerm(sf.Workloads)),
			))
		}
		items = append(items, item("destinationRule", objectTerm(
			item("names", strings2Term(r.Names)),
			item("host", strTerm(r.Host)),
			item("subsetNames", strings2Term(r.SubsetNames)),
			item("subsets", objectTerm(subsets...)),
		)))
	}
	return objectTerm(items...)
}
