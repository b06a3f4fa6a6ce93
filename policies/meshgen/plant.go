package meshgen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// plant gives objects their slips at the fleet's rate and counts them by
// code. DestinationRules go first: a dropped subset breaks the
// VirtualServices routing to it, which are marked broken-by and take no
// slip of their own.
func (g *fleetGen) plant() map[string]int {
	counts := map[string]int{}
	if g.f.PlantRate <= 0 {
		return counts
	}
	for _, d := range g.drs {
		if g.chance(g.f.PlantRate) {
			g.plantDR(d, counts)
		}
	}
	for _, vs := range g.vss {
		if vs.brokenBy == "" && g.chance(g.f.PlantRate) {
			g.plantVS(vs, counts)
		}
	}
	return counts
}

// plantDR drops a subset that the namespace of some VirtualService gets
// from this rule and routes to (MESH0301 on those VirtualServices).
func (g *fleetGen) plantDR(d *destRule, counts map[string]int) {
	var subsets []string
	for _, u := range d.uses {
		if u.own && u.d.subset == u.subset && !slices.Contains(subsets, u.subset) {
			subsets = append(subsets, u.subset)
		}
	}
	if len(subsets) == 0 {
		return
	}
	sub := pick(g, subsets)
	var affected []*virtualService
	for _, u := range d.uses {
		if u.subset == sub && u.d.subset == sub && !slices.Contains(affected, u.vs) {
			if u.vs.brokenBy != "" {
				return
			}
			affected = append(affected, u.vs)
		}
	}
	d.subsets = slices.DeleteFunc(d.subsets, func(s string) bool { return s == sub })
	d.planted = "MESH0301"
	d.detail = fmt.Sprintf("subset %s removed while %d VirtualService(s) route to it", sub, len(affected))
	for _, vs := range affected {
		vs.brokenBy = "DestinationRule " + d.ns + "/" + d.name
	}
	counts[d.planted]++
}

type slip struct {
	code  string
	apply func() string // returns the detail
}

// plantVS applies one slip, chosen among those that fit the VirtualService.
func (g *fleetGen) plantVS(vs *virtualService, counts map[string]int) {
	var svcDests, allDests []*dest
	var pairs []*httpRoute
	for _, r := range vs.routes {
		for _, d := range r.dests {
			allDests = append(allDests, d)
			if d.svc != nil {
				svcDests = append(svcDests, d)
			}
		}
		if len(r.dests) == 2 {
			pairs = append(pairs, r)
		}
	}
	var slips []slip
	slips = append(slips, slip{"MESH0201", func() string {
		d := pick(g, allDests)
		old := d.host
		d.host = g.typoHost(vs.ns, d)
		return "destination host typo: " + old + " -> " + d.host
	}})
	if len(svcDests) > 0 {
		slips = append(slips, slip{"MESH0301", func() string {
			d := pick(g, svcDests)
			d.subset = "v" + strconv.Itoa(d.svc.versions+1)
			return "subset " + d.subset + " of " + d.host + " that no DestinationRule defines"
		}})
	}
	slips = append(slips, slip{"MESH0401", func() string {
		d := pick(g, allDests)
		var free []int
		for _, n := range strayPorts {
			if (d.svc != nil && !d.svc.hasPort(n)) || (d.se != nil && !d.se.hasPort(n)) {
				free = append(free, n)
			}
		}
		d.port = pick(g, free)
		return fmt.Sprintf("port %d that %s lacks", d.port, d.host)
	}})
	if vs.gateway != nil {
		var multi []*dest
		for _, d := range svcDests {
			if len(d.svc.ports) > 1 {
				multi = append(multi, d)
			}
		}
		if len(multi) > 0 {
			slips = append(slips, slip{"MESH0402", func() string {
				d := pick(g, multi)
				d.port = 0
				return "no port for " + d.host + ", which has several, on a gateway route"
			}})
		}
		slips = append(slips, slip{"MESH0501", func() string {
			for i, ref := range vs.gateways {
				if ref != "mesh" {
					vs.gateways[i] = ref + "-v2"
					return "gateway " + vs.gateways[i] + " does not exist"
				}
			}
			return ""
		}})
	}
	if hidden := g.hiddenServices(vs.ns); len(hidden) > 0 {
		slips = append(slips, slip{"MESH0201", func() string {
			y := pick(g, hidden)
			r := pick(g, vs.routes)
			d := r.dests[0]
			d.host, d.svc, d.se, d.subset = y.fqdn(), y, nil, ""
			if d.port != 0 || (vs.gateway != nil && len(y.ports) > 1) {
				d.port = y.ports[0].number
			}
			return "destination " + d.host + " is exported only to its own namespace"
		}})
	}
	if len(pairs) > 0 {
		slips = append(slips, slip{"MESH0104", func() string {
			r := pick(g, pairs)
			r.dests[0].weight, r.dests[1].weight = 90, 20
			return "weights 90/20 in route " + r.name
		}})
	}
	s := pick(g, slips)
	vs.planted, vs.detail = s.code, s.apply()
	counts[s.code]++
}

// hiddenServices are Services exported only to their own namespace, which
// is not ns.
func (g *fleetGen) hiddenServices(ns string) []*service {
	var out []*service
	for _, s := range g.services {
		if s.exportTo == "." && s.ns != ns {
			out = append(out, s)
		}
	}
	return out
}

// typoHost misspells the name a destination host points at, so that it
// resolves to nothing: the Service name of a cluster host, the second
// label of an external one.
func (g *fleetGen) typoHost(vsNS string, d *dest) string {
	labels := strings.Split(d.host, ".")
	if d.se != nil {
		labels[1] = g.typo(labels[1], func(w string) bool {
			h := strings.Join(append(append(slices.Clone(labels[:1]), w), labels[2:]...), ".")
			return slices.ContainsFunc(g.entries, func(e *serviceEntry) bool { return e.host == h || (e.wildcard && strings.HasSuffix(h, e.host[1:])) })
		})
		return strings.Join(labels, ".")
	}
	ns := vsNS
	if len(labels) > 1 {
		ns = labels[1]
	}
	labels[0] = g.typo(labels[0], func(w string) bool { return g.used["Service/"+ns+"/"+w] })
	return strings.Join(labels, ".")
}

// typo swaps two adjacent letters of word, or doubles one, until taken
// says the result is free.
func (g *fleetGen) typo(word string, taken func(string) bool) string {
	letter := func(c byte) bool { return c >= 'a' && c <= 'z' }
	var swaps []int
	for i := 0; i+1 < len(word); i++ {
		if letter(word[i]) && letter(word[i+1]) && word[i] != word[i+1] {
			swaps = append(swaps, i)
		}
	}
	if len(swaps) > 0 {
		i := pick(g, swaps)
		b := []byte(word)
		b[i], b[i+1] = b[i+1], b[i]
		if w := string(b); !taken(w) {
			return w
		}
	}
	for i := 0; i < len(word); i++ {
		if letter(word[i]) {
			if w := word[:i+1] + word[i:]; !taken(w) {
				return w
			}
		}
	}
	return word + "x"
}
