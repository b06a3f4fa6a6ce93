package policies

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// Keys from the facts themselves. The key of a review is the encoding
// tokenizer.encode gives the policy input; building that input as OPA
// terms cost as much as the key itself, and a review whose packages all
// hit the cache needs no input at all. factsKey writes the same bytes
// straight from the Go facts: every object's fields in the order OPA
// keeps them (sorted), every value under the key that holds it, so that
// tokens are numbered alike. TestFactsKeyMatchesInput holds the two
// encodings byte for byte on every review of generated meshes and the
// test files.

// factsKey is decisionCache.key for the input inputTerm builds (without
// the objects) from f, for a review of scope sc under settings s.
func (c *decisionCache) factsKey(t *tokenizer, f *Facts, s Settings, sc scope, mask uint64) decisionKey {
	c.startKey(t, sc, mask)
	t.buf = append(t.buf, '{')
	t.field("facts")
	t.facts(f)
	// The input's kind is the object's; the scope keys a Gateway API
	// Gateway apart from Istio's by its group.
	kind := sc.kind
	if i := strings.LastIndexByte(kind, '/'); i >= 0 {
		kind = kind[i+1:]
	}
	t.strField("kind", kind)
	t.strField("operation", string(sc.op))
	t.field("settings")
	t.buf = append(t.buf, '{')
	t.strField("clusterDomain", s.ClusterDomain)
	t.strField("rootNamespace", s.RootNamespace)
	t.buf = append(t.buf, '}', '}')
	return c.sum(t)
}

// strField, boolField, numField and numOrNullField write a field and its
// value, as an object of the input holds them.
func (t *tokenizer) strField(name, s string)       { t.field(name); t.strAt(name, s) }
func (t *tokenizer) boolField(name string, b bool) { t.field(name); t.boolean(b) }
func (t *tokenizer) numField(name string, n int64) { t.field(name); t.numAt(name, n) }
func (t *tokenizer) numOrNullField(name string, n int64, ok bool) {
	t.field(name)
	t.numOrNull(name, n, ok)
}

// field writes the key of a field of an object that is not keyed by
// names: the input's own field names, which never start like a token.
func (t *tokenizer) field(name string) { t.appendString(name) }

// nameKey writes a key of an object keyed by names.
func (t *tokenizer) nameKey(s string) {
	t.clash = t.clash || strings.HasPrefix(s, tokenPrefix)
	if t.keep(s) {
		t.appendString(s)
	} else {
		t.appendToken(t.tokenIndex(s))
	}
}

// strAt writes string s held under key.
func (t *tokenizer) strAt(key, s string) {
	t.clash = t.clash || strings.HasPrefix(s, tokenPrefix)
	if inputKeyFlags[key]&keyClean != 0 || t.keep(s) {
		t.appendString(s)
	} else {
		t.appendToken(t.tokenIndex(s))
	}
}

// appendToken is appendString(t.token(s)) for s's token index n, without
// the string: a key holds dozens of tokens.
func (t *tokenizer) appendToken(n int) {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(n), 10)
	t.buf = append(t.buf, 's')
	t.buf = binary.AppendUvarint(t.buf, uint64(len(tokenPrefix)+len(d)))
	t.buf = append(t.buf, tokenPrefix...)
	t.buf = append(t.buf, d...)
}

// numAt writes number n held under key, as number does.
func (t *tokenizer) numAt(key string, n int64) {
	t.buf = append(t.buf, 'n')
	if inputKeyFlags[key]&keyNumberToken == 0 {
		t.buf = strconv.AppendInt(t.buf, n, 10)
		t.buf = append(t.buf, 0)
		return
	}
	// numberLiteral's text, built in the scratch buffer: looking a []byte
	// up in a map as a string builds no string.
	t.lit = strconv.AppendInt(append(t.lit[:0], tokenPrefix+"n"...), n, 10)
	if _, ok := t.literals[string(t.lit)]; ok {
		t.buf = strconv.AppendInt(t.buf, n, 10)
	} else {
		idx, ok := t.tokens[string(t.lit)]
		if !ok {
			idx = t.tokenIndex(string(t.lit))
		}
		t.buf = strconv.AppendInt(t.buf, int64(numberTokenBase+idx), 10)
	}
	t.buf = append(t.buf, 0)
}

// numOrNull is intOrNull's value.
func (t *tokenizer) numOrNull(key string, n int64, ok bool) {
	if !ok {
		t.buf = append(t.buf, 'z')
		return
	}
	t.numAt(key, n)
}

func (t *tokenizer) boolean(b bool) {
	if b {
		t.buf = append(t.buf, 'T')
	} else {
		t.buf = append(t.buf, 'F')
	}
}

// strsAt is strings2Term's value held under key.
func (t *tokenizer) strsAt(key string, items []string) {
	t.buf = append(t.buf, '[')
	for _, s := range items {
		t.strAt(key, s)
	}
	t.buf = append(t.buf, ']')
}

// want reports whether field of input.facts goes into the key.
func (t *tokenizer) want(field string) bool {
	if t.skip("facts", field) {
		return false
	}
	t.field(field)
	return true
}

// facts is Facts.term's value, its fields in sorted order.
func (t *tokenizer) facts(f *Facts) {
	t.buf = append(t.buf, '{')
	if t.want("backendRefs") {
		t.buf = append(t.buf, '[')
		for _, b := range f.BackendRefs {
			t.buf = append(t.buf, '{')
			t.boolField("crossNamespace", b.CrossNamespace)
			t.boolField("dropped", b.Dropped)
			t.boolField("exists", b.Exists)
			t.strField("field", b.Field)
			t.strField("kind", b.Kind)
			t.strField("name", b.Name)
			t.strField("namespace", b.Namespace)
			t.boolField("permitted", b.Permitted)
			t.numOrNullField("port", b.Port, b.HasPort)
			t.boolField("portExists", b.PortExists)
			t.boolField("supported", b.Supported)
			t.boolField("visible", b.Visible)
			t.numField("weight", b.Weight)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("backendRules") {
		t.buf = append(t.buf, '[')
		for _, r := range f.BackendRules {
			t.buf = append(t.buf, '{')
			t.strField("field", r.Field)
			t.field("weights")
			t.buf = append(t.buf, '[')
			for _, w := range r.Weights {
				t.numAt("weights", w)
			}
			t.buf = append(t.buf, ']')
			t.boolField("written", r.Written)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	hosts := sortedHosts(f.Hosts)
	if t.want("byHost") {
		t.buf = append(t.buf, '{')
		for _, h := range hosts {
			t.nameKey(h)
			t.buf = append(t.buf, '[')
			for _, n := range f.ByHost[h] {
				t.numAt("byHost", int64(n))
			}
			t.buf = append(t.buf, ']')
		}
		t.buf = append(t.buf, '}')
	}
	if t.want("destinations") {
		t.buf = append(t.buf, '[')
		for _, d := range f.Destinations {
			t.destination(d)
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("exportTo") {
		t.strsAt("exportTo", f.ExportTo)
	}
	if t.want("gateways") {
		t.buf = append(t.buf, '[')
		for _, g := range f.Gateways {
			t.buf = append(t.buf, '{')
			t.boolField("exists", g.Exists)
			t.strField("field", g.Field)
			t.strField("key", g.Key)
			t.strField("name", g.Name)
			t.strField("namespace", g.Namespace)
			t.strField("ref", g.Ref)
			t.field("servedHosts")
			t.strsAt("servedHosts", g.ServedHosts)
			t.field("serverHosts")
			t.strsAt("serverHosts", g.ServerHosts)
			t.field("unservedHosts")
			t.strsAt("unservedHosts", g.UnservedHosts)
			t.boolField("visible", g.Visible)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("hosts") {
		t.hosts(f.Hosts, hosts)
	}
	if t.want("listenerPorts") {
		t.listeners(f.ListenerPorts)
	}
	if t.want("malformed") {
		t.buf = append(t.buf, '[')
		for _, m := range f.Malformed {
			t.buf = append(t.buf, '{')
			t.strField("field", m.Field)
			t.strField("got", m.Got)
			t.strField("want", m.Want)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("meshBound") {
		t.boolean(f.MeshBound)
	}
	if t.want("missing") {
		t.strsAt("missing", f.Missing)
	}
	if t.want("namespace") {
		t.strAt("namespace", f.Namespace)
	}
	if t.want("oldSubsetNames") {
		t.strsAt("oldSubsetNames", f.OldSubsetNames)
	}
	if t.want("parentRefs") {
		t.buf = append(t.buf, '[')
		for _, p := range f.ParentRefs {
			t.buf = append(t.buf, '{')
			t.boolField("admitted", p.Admitted)
			t.boolField("exists", p.Exists)
			t.strField("field", p.Field)
			t.boolField("hasPort", p.HasPort)
			t.strField("kind", p.Kind)
			t.boolField("listenerFound", p.ListenerFound)
			t.strField("name", p.Name)
			t.strField("namespace", p.Namespace)
			t.numOrNullField("port", p.Port, p.HasPort)
			t.strField("sectionName", p.Section)
			t.boolField("supported", p.Supported)
			t.boolField("visible", p.Visible)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("reach") {
		t.buf = append(t.buf, '[')
		for _, r := range f.Reach {
			t.buf = append(t.buf, '{')
			t.field("hosts")
			t.hosts(r.Hosts, sortedHosts(r.Hosts))
			t.field("listenerPorts")
			t.listeners(r.ListenerPorts)
			t.strField("namespace", r.Namespace)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("routeUses") {
		t.buf = append(t.buf, '[')
		for _, u := range f.RouteUses {
			t.buf = append(t.buf, '{')
			t.strField("field", u.Field)
			t.strField("namespace", u.Namespace)
			t.strField("route", u.Route)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	if t.want("routes") {
		t.routes(f)
	}
	if t.want("subsetNames") {
		t.strsAt("subsetNames", f.SubsetNames)
	}
	if t.want("usedBy") {
		t.buf = append(t.buf, '[')
		for _, u := range f.UsedBy {
			t.buf = append(t.buf, '{')
			t.strField("field", u.Field)
			t.strField("host", u.Host)
			t.strField("namespace", u.Namespace)
			t.strField("subset", u.Subset)
			t.strField("virtualService", u.VirtualService)
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, ']')
	}
	t.buf = append(t.buf, '}')
}

func sortedHosts(m map[string]*HostFacts) []string {
	keys := make([]string, 0, len(m))
	for h := range m {
		keys = append(keys, h)
	}
	slices.Sort(keys)
	return keys
}

// routes is the routes of Facts.term, whose destinations are those of
// f.Destinations found the same way.
func (t *tokenizer) routes(f *Facts) {
	t.buf = append(t.buf, '[')
	next := 0
	for _, r := range f.Routes {
		t.buf = append(t.buf, '{')
		t.field("destinations")
		t.buf = append(t.buf, '[')
		for _, d := range r.Destinations {
			for next < len(f.Destinations) && f.Destinations[next].Field != d.Field {
				next++
			}
			if next < len(f.Destinations) {
				t.destination(f.Destinations[next])
			} else {
				t.destination(d)
			}
		}
		t.buf = append(t.buf, ']')
		t.strField("field", r.Field)
		t.field("targets")
		t.buf = append(t.buf, '[')
		for _, d := range r.Destinations {
			t.strAt("targets", d.Host+"|"+d.Subset+"|"+portKey(d))
		}
		t.buf = append(t.buf, ']')
		t.field("weights")
		t.buf = append(t.buf, '[')
		for _, d := range r.Destinations {
			t.numAt("weights", d.Weight)
		}
		t.buf = append(t.buf, ']', '}')
	}
	t.buf = append(t.buf, ']')
}

func (t *tokenizer) destination(d DestinationRef) {
	t.buf = append(t.buf, '{')
	t.boolField("dropped", d.Dropped)
	t.strField("field", d.Field)
	t.strField("host", d.Host)
	t.boolField("mirror", d.Mirror)
	t.numOrNullField("port", d.Port, d.HasPort)
	t.strField("portKey", portKey(d))
	t.strField("subset", d.Subset)
	t.numOrNullField("weight", d.Weight, d.HasWeight)
	t.buf = append(t.buf, '}')
}

func (t *tokenizer) listeners(ports []ListenerPort) {
	t.buf = append(t.buf, '[')
	for _, p := range ports {
		t.buf = append(t.buf, '{')
		t.numField("number", p.Number)
		t.boolField("sidecar", p.Sidecar)
		t.strField("via", p.Via)
		t.buf = append(t.buf, '}')
	}
	t.buf = append(t.buf, ']')
}

// hosts is hostsTerm's value; keys are m's, sorted.
func (t *tokenizer) hosts(m map[string]*HostFacts, keys []string) {
	t.buf = append(t.buf, '{')
	for _, h := range keys {
		t.nameKey(h)
		t.host(m[h])
	}
	t.buf = append(t.buf, '}')
}

// host is HostFacts.term's value.
func (t *tokenizer) host(h *HostFacts) {
	t.buf = append(t.buf, '{')
	t.field("candidates")
	t.strsAt("candidates", h.Candidates)
	if r := h.DestinationRule; r != nil {
		t.field("destinationRule")
		t.buf = append(t.buf, '{')
		t.strField("host", r.Host)
		t.field("names")
		t.strsAt("names", r.Names)
		t.field("subsetNames")
		t.strsAt("subsetNames", r.SubsetNames)
		t.field("subsets")
		t.buf = append(t.buf, '{')
		names := slices.Clone(r.SubsetNames)
		slices.Sort(names)
		for i, name := range names {
			if i > 0 && names[i-1] == name {
				continue // one key in an object
			}
			sf := r.Subsets[name]
			t.nameKey(name)
			t.buf = append(t.buf, '{')
			t.strField("definedBy", sf.DefinedBy)
			t.field("labels")
			t.buf = append(t.buf, '{')
			for _, k := range sortedKeys(sf.Labels) {
				t.nameKey(k)
				t.strAt("labels", sf.Labels[k])
			}
			t.buf = append(t.buf, '}')
			t.numField("workloads", int64(sf.Workloads))
			t.buf = append(t.buf, '}')
		}
		t.buf = append(t.buf, '}', '}')
	}
	t.strField("fqdn", h.FQDN)
	t.field("hiddenBy")
	t.strsAt("hiddenBy", h.HiddenBy)
	t.strField("kind", h.Kind)
	t.strField("name", h.Name)
	t.field("otherDestinationRules")
	t.buf = append(t.buf, '[')
	for _, o := range h.OtherDestinationRules {
		t.buf = append(t.buf, '{')
		t.strField("name", o.Name)
		t.strField("reason", o.Reason)
		t.field("subsetNames")
		t.strsAt("subsetNames", o.SubsetNames)
		t.buf = append(t.buf, '}')
	}
	t.buf = append(t.buf, ']')
	// portSet's keys are the port numbers as text, once each, in the
	// order of text.
	t.field("portSet")
	t.buf = append(t.buf, '{')
	nums := make([]string, len(h.Ports))
	for i, p := range h.Ports {
		nums[i] = strconv.FormatInt(p.Number, 10)
	}
	slices.Sort(nums)
	for i, n := range nums {
		if i > 0 && nums[i-1] == n {
			continue
		}
		t.nameKey(n)
		t.boolean(true)
	}
	t.buf = append(t.buf, '}')
	t.field("ports")
	t.buf = append(t.buf, '[')
	for _, p := range h.Ports {
		t.buf = append(t.buf, '{')
		t.strField("name", p.Name)
		t.numField("number", p.Number)
		t.strField("protocol", p.Protocol)
		t.buf = append(t.buf, '}')
	}
	t.buf = append(t.buf, ']')
	t.boolField("resolved", h.Resolved)
	t.boolField("wildcard", strings.Contains(h.FQDN, "*"))
	t.boolField("workloadsKnown", h.WorkloadsKnown)
	t.buf = append(t.buf, '}')
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
