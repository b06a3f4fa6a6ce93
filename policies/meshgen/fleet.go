package meshgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// RootNamespace is the Istio root namespace of generated fleets: it holds
// the ingress Gateway and mesh-wide DestinationRules.
const RootNamespace = "istio-system"

// Annotations the realistic mode puts on the objects it breaks.
const (
	// PlantedAnnotation carries the finding code of the one slip planted
	// in a VirtualService or DestinationRule.
	PlantedAnnotation = "meshgen.kubectl-mesh.io/planted"
	// PlantedDetailAnnotation says in words what was changed.
	PlantedDetailAnnotation = "meshgen.kubectl-mesh.io/planted-detail"
	// BrokenByAnnotation marks an unplanted VirtualService that routes to a
	// subset a planted DestinationRule dropped ("DestinationRule ns/name").
	BrokenByAnnotation = "meshgen.kubectl-mesh.io/broken-by"
)

// FleetCodes are the codes WriteFleet plants.
var FleetCodes = []string{"MESH0104", "MESH0201", "MESH0301", "MESH0401", "MESH0402", "MESH0501"}

const clusterDomain = "cluster.local"

// Fleet sizes a mesh shaped like a real fleet. Every random choice comes
// from a PCG seeded with Seed, so a Fleet always writes the same bytes.
type Fleet struct {
	Seed     uint64
	Services int
	// Namespaces is the number of team namespaces besides istio-system;
	// 0 means one per 100 Services.
	Namespaces int
	// PlantRate is the chance that a VirtualService or DestinationRule
	// gets one planted slip.
	PlantRate float64
	// Routes adds Gateway API Gateways, ReferenceGrants and HTTPRoutes
	// (routes.go).
	Routes bool
}

// WriteFleet writes the fleet as multi-document YAML and returns how many
// objects of each code it planted a slip in.
func WriteFleet(w io.Writer, f Fleet) (map[string]int, error) {
	g := newFleetGen(f)
	g.generate()
	planted := g.plant()
	bw := bufio.NewWriterSize(w, 1<<16)
	g.emit(bw)
	if f.Routes {
		g.makeGatewayAPI().emit(bw)
	}
	return planted, bw.Flush()
}

type port struct {
	name   string
	number int
}

// routable reports whether HTTP routes may name the port: Istio takes
// http*, grpc* names as HTTP protocols (https is TLS to it).
func (p port) routable() bool {
	return (p.name == "http" || strings.HasPrefix(p.name, "http-") || p.name == "grpc" || strings.HasPrefix(p.name, "grpc-"))
}

type service struct {
	ns, name string
	ports    []port
	versions int
	// exportTo is the networking.istio.io/exportTo annotation ("" when absent).
	exportTo string
	// client is another team's namespace that holds the Service's mesh
	// VirtualService ("" when it is the Service's own).
	client string
}

func (s *service) fqdn() string { return s.name + "." + s.ns + ".svc." + clusterDomain }

func (s *service) visibleFrom(ns string) bool {
	if s.exportTo == "" {
		return true
	}
	return exported(strings.Split(s.exportTo, ","), s.ns, ns)
}

func (s *service) hasPort(n int) bool {
	return slices.ContainsFunc(s.ports, func(p port) bool { return p.number == n })
}

func (s *service) routablePorts() []int {
	var out []int
	for _, p := range s.ports {
		if p.routable() {
			out = append(out, p.number)
		}
	}
	return out
}

// exported is Istio's exportTo rule: empty means everywhere, "." the
// owner's namespace, "*" everywhere, anything else a namespace name.
func exported(exportTo []string, owner, client string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || (e == "." && owner == client) || e == client {
			return true
		}
	}
	return false
}

type destRule struct {
	ns, name string
	svc      *service
	host     string
	subsets  []string
	exportTo []string
	policy   mapping
	planted  string
	detail   string
	// uses are the routed subsets this rule provides to some namespace.
	uses []*subsetUse
}

type subsetUse struct {
	vs     *virtualService
	d      *dest
	subset string
	// own is set when the rule is the one the VirtualService's own
	// namespace gets, which is what the validator checks.
	own bool
}

type serviceEntry struct {
	ns, name   string
	host       string
	wildcard   bool
	ports      []seport
	resolution string
	exportTo   []string
}

type seport struct {
	number         int
	name, protocol string
}

func (e *serviceEntry) hasPort(n int) bool {
	return slices.ContainsFunc(e.ports, func(p seport) bool { return p.number == n })
}

type gateway struct {
	ns, name string
	// style is how the HTTP server names its hosts: "wild" (*.example.com
	// or *), "ns" (ns/*) or "exact" (a fixed list).
	style  string
	hosts  []string
	https  []string
	cred   string
	spare  []string // exact hosts not yet bound by a VirtualService
	domain string
}

func (g *gateway) ref(fromNS string, short bool) string {
	if short && fromNS == g.ns {
		return g.name
	}
	return g.ns + "/" + g.name
}

// dest is a route or mirror destination.
type dest struct {
	host   string
	subset string
	port   int
	weight int
	svc    *service
	se     *serviceEntry
}

type httpRoute struct {
	name    string
	match   list
	dests   []*dest
	mirror  *dest
	extra   mapping // mirrorPercentage, timeout, retries, fault
	tlsPort int     // > 0: a TLS route on this port, matched by SNI
}

type virtualService struct {
	ns, name string
	hosts    []string
	gateways []string
	exportTo []string
	routes   []*httpRoute
	// gateway is set when the VirtualService binds to a Gateway.
	gateway  *gateway
	meshToo  bool
	planted  string
	detail   string
	brokenBy string
}

type fleetGen struct {
	// forcePorts makes every destination name its port: sidecars serve a
	// VirtualService's external host on their port-80 listener, where a
	// destination without a port would go to port 80.
	forcePorts bool
	f          Fleet
	r          *rand.Rand
	namespaces []string // team namespaces
	everywhere []string // team namespaces and the root
	services   []*service
	byNS       map[string][]*service
	used       map[string]bool // kind/namespace/name
	drs        []*destRule
	drIndex    map[*service]map[string]*destRule
	gateways   []*gateway
	teamGW     map[string]*gateway
	ingress    *gateway
	entries    []*serviceEntry
	vss        []*virtualService
	availAll   map[*service][]string
}

func newFleetGen(f Fleet) *fleetGen {
	if f.Namespaces <= 0 {
		f.Namespaces = max(1, f.Services/100)
	}
	return &fleetGen{
		f:        f,
		r:        rand.New(rand.NewPCG(f.Seed, 0x6d657368676e)),
		byNS:     map[string][]*service{},
		used:     map[string]bool{},
		drIndex:  map[*service]map[string]*destRule{},
		teamGW:   map[string]*gateway{},
		availAll: map[*service][]string{},
	}
}

func (g *fleetGen) chance(p float64) bool { return g.r.Float64() < p }

// oneToThree is 2 with chance p2, 3 with chance p3, else 1.
func (g *fleetGen) oneToThree(p2, p3 float64) int {
	switch x := g.r.Float64(); {
	case x < p2:
		return 2
	case x < p2+p3:
		return 3
	}
	return 1
}

func pick[T any](g *fleetGen, s []T) T { return s[g.r.IntN(len(s))] }

// uniqueName returns base, or base-2, base-3 ... if a kind already has it
// in the namespace.
func (g *fleetGen) uniqueName(kind, ns, base string) string {
	name := base
	for i := 2; g.used[kind+"/"+ns+"/"+name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	g.used[kind+"/"+ns+"/"+name] = true
	return name
}

var teamNames = []string{
	"shop", "pay", "cart", "search", "auth", "catalog", "orders", "users", "media",
	"ads", "billing", "shipping", "inventory", "analytics", "notify", "support",
	"identity", "pricing", "loyalty", "reports",
}

var serviceWords = []string{
	"frontend", "web", "api", "reviews", "ratings", "details", "productpage", "cart",
	"checkout", "payments", "orders", "inventory", "search", "auth", "users", "catalog",
	"recommend", "shipping", "email", "currency", "ads", "notify", "billing", "ledger",
	"profile", "session", "images", "pricing", "quotes", "tax", "fraud", "tracking",
	"accounts", "wallet", "coupons", "feeds",
}

var (
	firstPortNames = []string{"http", "http", "http", "http", "http", "http-web", "http-web", "grpc", "grpc"}
	httpNumbers    = []int{80, 8080, 9080, 8000, 5000, 3000}
	grpcNumbers    = []int{9090, 8081, 50051}
	extraPorts     = []port{
		{"http-admin", 8000}, {"http-admin", 9000}, {"grpc", 9090}, {"http-web", 3000},
		{"tcp-metrics", 9100}, {"tcp-db", 5432}, {"https", 8443}, {"http", 8080},
	}
	// strayPorts are where MESH0401 slips point.
	strayPorts = []int{80, 8080, 9080, 8000, 9090, 5000, 3000, 8443, 9999}
)

func (g *fleetGen) generate() {
	g.makeNamespaces()
	g.makeServices()
	g.makeGateways()
	g.makeServiceEntries()
	g.makeDestinationRules()
	g.makeVirtualServices()
}

func (g *fleetGen) makeNamespaces() {
	n := g.f.Namespaces
	names := slices.Clone(teamNames)
	g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for i := range n {
		if i < len(names) {
			g.namespaces = append(g.namespaces, names[i])
		} else {
			g.namespaces = append(g.namespaces, fmt.Sprintf("team-%03d", i))
		}
	}
	g.everywhere = append(slices.Clone(g.namespaces), RootNamespace)
}

func (g *fleetGen) makeServices() {
	for i := range g.f.Services {
		ns := g.namespaces[i%len(g.namespaces)]
		if i >= len(g.namespaces) && g.chance(0.5) {
			ns = pick(g, g.namespaces)
		}
		s := &service{ns: ns, name: g.uniqueName("Service", ns, pick(g, serviceWords))}
		first := port{name: pick(g, firstPortNames)}
		if first.name == "grpc" {
			first.number = pick(g, grpcNumbers)
		} else {
			first.number = pick(g, httpNumbers)
		}
		s.ports = []port{first}
		want := g.oneToThree(0.3, 0.12)
		for tries := 0; len(s.ports) < want && tries < 20; tries++ {
			p := pick(g, extraPorts)
			if !slices.ContainsFunc(s.ports, func(q port) bool { return q.name == p.name || q.number == p.number }) {
				s.ports = append(s.ports, p)
			}
		}
		switch x := g.r.Float64(); {
		case x < 0.35:
			s.versions = 1
		case x < 0.75:
			s.versions = 2
		case x < 0.93:
			s.versions = 3
		default:
			s.versions = 4
		}
		switch x := g.r.Float64(); {
		case x < 0.06:
			s.exportTo = "."
		case x < 0.09:
			s.exportTo = "*"
		case x < 0.12 && len(g.namespaces) > 1:
			other := pick(g, g.namespaces)
			if other == ns {
				other = RootNamespace
			}
			s.exportTo = ns + "," + other
		}
		g.services = append(g.services, s)
		g.byNS[ns] = append(g.byNS[ns], s)
	}
}

func (g *fleetGen) makeGateways() {
	g.ingress = &gateway{ns: RootNamespace, name: "ingress", style: "wild", hosts: []string{"*.example.com"}, https: []string{"*.example.com"}, cred: "ingress-cert", domain: "example.com"}
	g.used["Gateway/"+RootNamespace+"/ingress"] = true
	g.gateways = append(g.gateways, g.ingress)
	for i, ns := range g.namespaces {
		if !(i == 0 && len(g.namespaces) > 1) && !g.chance(0.25) {
			continue
		}
		gw := &gateway{ns: ns, name: "web-gateway"}
		g.used["Gateway/"+ns+"/web-gateway"] = true
		switch x := g.r.Float64(); {
		case x < 0.35:
			gw.style, gw.hosts, gw.domain = "ns", []string{ns + "/*"}, ns+".example.net"
		case x < 0.55:
			gw.style, gw.hosts, gw.domain = "wild", []string{"*"}, ns+".example.io"
		default:
			gw.style = "exact"
			gw.hosts = []string{ns + ".example.org", "www." + ns + ".example.org"}
			gw.spare = slices.Clone(gw.hosts)
			gw.https, gw.cred = gw.hosts, ns+"-cert"
		}
		g.gateways = append(g.gateways, gw)
		g.teamGW[ns] = gw
	}
}

func (g *fleetGen) makeServiceEntries() {
	n := max(2, g.f.Services/12)
	for i := range n {
		e := &serviceEntry{resolution: "DNS"}
		if g.chance(0.6) {
			e.name = fmt.Sprintf("partner%d", i)
			e.host = "api." + e.name + ".example.com"
			if g.chance(0.2) {
				e.resolution = "NONE"
			}
		} else {
			e.name = fmt.Sprintf("ext%d", i)
			e.host = "*." + e.name + ".example.com"
			e.wildcard = true
			e.resolution = "NONE" // Istio takes no wildcard host with DNS and no endpoints
		}
		http := seport{80, "http", "HTTP"}
		tls := seport{443, "tls", "TLS"}
		if g.chance(0.3) {
			tls = seport{443, "https", "HTTPS"}
		}
		switch x := g.r.Float64(); {
		case x < 0.3:
			e.ports = []seport{http}
		case x < 0.7:
			e.ports = []seport{tls}
		default:
			e.ports = []seport{http, tls}
		}
		if g.chance(0.4) {
			e.ns = RootNamespace
			if g.chance(0.3) {
				e.exportTo = []string{"*"}
			}
		} else {
			e.ns = pick(g, g.namespaces)
			switch x := g.r.Float64(); {
			case x < 0.2:
				e.exportTo = []string{"."}
			case x < 0.3:
				e.exportTo = []string{"*"}
			case x < 0.4:
				e.exportTo = []string{".", pick(g, g.namespaces)}
			}
		}
		e.exportTo = uniqueExport(e.exportTo, e.ns)
		e.name = g.uniqueName("ServiceEntry", e.ns, e.name)
		g.entries = append(g.entries, e)
	}
}

// uniqueExport drops a namespace name equal to the owner when "." is there.
func uniqueExport(exportTo []string, owner string) []string {
	if len(exportTo) == 2 && exportTo[0] == "." && exportTo[1] == owner {
		return exportTo[:1]
	}
	return exportTo
}

func (g *fleetGen) subsetCount(s *service) int {
	if g.chance(0.6) {
		return s.versions
	}
	return 1 + g.r.IntN(s.versions)
}

func (g *fleetGen) trafficPolicy() mapping {
	var p mapping
	if g.chance(0.5) {
		p = append(p, kv{"connectionPool", mapping{
			{"tcp", mapping{{"maxConnections", pick(g, []int{100, 200, 1000})}}},
			{"http", mapping{{"http1MaxPendingRequests", pick(g, []int{100, 1000})}, {"maxRequestsPerConnection", pick(g, []int{10, 100})}}},
		}})
	}
	if g.chance(0.4) {
		p = append(p, kv{"outlierDetection", mapping{
			{"consecutive5xxErrors", pick(g, []int{5, 7, 10})},
			{"interval", pick(g, []string{"10s", "30s"})},
			{"baseEjectionTime", pick(g, []string{"30s", "1m"})},
			{"maxEjectionPercent", pick(g, []int{10, 50, 100})},
		}})
	}
	if g.chance(0.3) {
		p = append(p, kv{"tls", mapping{{"mode", "ISTIO_MUTUAL"}}})
	}
	return p
}

// addDR adds a DestinationRule for s in ns unless ns has one for it.
func (g *fleetGen) addDR(s *service, ns string, exportTo []string) *destRule {
	if g.drIndex[s] == nil {
		g.drIndex[s] = map[string]*destRule{}
	}
	if g.drIndex[s][ns] != nil {
		return nil
	}
	base := s.name
	if ns != s.ns {
		base = s.name + "-" + s.ns
	}
	d := &destRule{ns: ns, svc: s, host: s.fqdn(), exportTo: exportTo}
	d.name = g.uniqueName("DestinationRule", ns, base)
	if ns == s.ns && g.chance(0.5) {
		d.host = s.name
	}
	for i := range g.subsetCount(s) {
		d.subsets = append(d.subsets, "v"+strconv.Itoa(i+1))
	}
	if g.chance(0.6) {
		d.policy = g.trafficPolicy()
	}
	g.drIndex[s][ns] = d
	g.drs = append(g.drs, d)
	return d
}

func (g *fleetGen) makeDestinationRules() {
	for _, s := range g.services {
		if g.chance(0.78) {
			if g.chance(0.8) {
				var exp []string
				switch x := g.r.Float64(); {
				case x < 0.1:
					exp = []string{"."}
				case x < 0.15:
					exp = []string{"*"}
				case x < 0.2:
					exp = []string{".", RootNamespace}
				}
				g.addDR(s, s.ns, exp)
				if g.chance(0.12) && s.visibleFrom(RootNamespace) {
					g.addDR(s, RootNamespace, nil)
				}
			} else if s.visibleFrom(RootNamespace) {
				g.addDR(s, RootNamespace, nil)
			}
		}
		// Some Services are routed by a client team's VirtualService in the
		// client's namespace, often with that team's DestinationRule.
		if len(g.namespaces) > 1 && g.chance(0.15) {
			if c := pick(g, g.namespaces); c != s.ns && s.visibleFrom(c) {
				s.client = c
				if g.chance(0.4) {
					g.addDR(s, c, []string{"."})
				}
			}
		}
		// A team's own override for a Service of another team.
		if len(g.namespaces) > 1 && g.chance(0.06) {
			if c := pick(g, g.namespaces); c != s.ns && s.visibleFrom(c) {
				g.addDR(s, c, []string{"."})
			}
		}
	}
}

// effectiveDR is the DestinationRule sidecars (or gateways) in namespace
// client apply to s: Istio looks in the client's namespace, then the
// Service's, then the root namespace, taking the first rule exported to
// the client.
func (g *fleetGen) effectiveDR(s *service, client string) *destRule {
	for _, tier := range []string{client, s.ns, RootNamespace} {
		if d := g.drIndex[s][tier]; d != nil && exported(d.exportTo, d.ns, client) {
			return d
		}
	}
	return nil
}

// visibility is the set of namespaces a route of a VirtualService is used
// from; all is set when it is every namespace.
type visibility struct {
	all bool
	ns  []string
}

func (g *fleetGen) namespacesOf(v visibility) []string {
	if v.all {
		return g.everywhere
	}
	return v.ns
}

// availableSubsets are the subsets of s that every namespace of v gets
// from its DestinationRule.
func (g *fleetGen) availableSubsets(s *service, v visibility) []string {
	if v.all {
		if got, ok := g.availAll[s]; ok {
			return got
		}
	}
	var out []string
	for i, ns := range g.namespacesOf(v) {
		d := g.effectiveDR(s, ns)
		if d == nil {
			out = nil
			break
		}
		if i == 0 {
			out = slices.Clone(d.subsets)
			continue
		}
		out = slices.DeleteFunc(out, func(x string) bool { return !slices.Contains(d.subsets, x) })
	}
	if v.all {
		g.availAll[s] = out
	}
	return out
}

// visibleEverywhere reports whether s is visible from every namespace of v.
func (g *fleetGen) visibleEverywhere(s *service, v visibility) bool {
	if s.exportTo == "" || s.exportTo == "*" {
		return true
	}
	for _, ns := range g.namespacesOf(v) {
		if !s.visibleFrom(ns) {
			return false
		}
	}
	return true
}

// recordUses notes which DestinationRules provide the subset of d, for
// the DestinationRule slips.
func (g *fleetGen) recordUses(vs *virtualService, d *dest, v visibility) {
	if d.subset == "" || d.svc == nil {
		return
	}
	seen := map[*destRule]*subsetUse{}
	for _, ns := range g.namespacesOf(v) {
		dr := g.effectiveDR(d.svc, ns)
		if dr == nil {
			continue
		}
		u := seen[dr]
		if u == nil {
			u = &subsetUse{vs: vs, d: d, subset: d.subset}
			seen[dr] = u
			dr.uses = append(dr.uses, u)
		}
		if ns == vs.ns {
			u.own = true
		}
	}
}

var weightSets = [][]int{{90, 10}, {50, 50}, {80, 20}, {95, 5}, {70, 20, 10}, {60, 30, 10}}

// routeTo builds the destinations of one route to s: one, or two or three
// weighted ones over subsets, sometimes with a second Service.
func (g *fleetGen) routeTo(vs *virtualService, s *service, host string, v visibility, gw bool) []*dest {
	subsets := g.availableSubsets(s, v)
	type cand struct {
		svc    *service
		host   string
		subset string
	}
	var cands []cand
	for _, sub := range subsets {
		cands = append(cands, cand{s, host, sub})
	}
	if len(cands) == 0 {
		cands = append(cands, cand{s, host, ""})
	}
	if g.chance(0.12) {
		if o := g.otherService(s, v); o != nil {
			var sub string
			if os := g.availableSubsets(o, v); len(os) > 0 && g.chance(0.5) {
				sub = pick(g, os)
			}
			cands = append(cands, cand{o, o.fqdn(), sub})
		}
	}
	n := 1
	var weights []int
	if g.chance(0.55) {
		weights = pick(g, weightSets)
		if len(weights) > len(cands) {
			weights = weightSets[g.r.IntN(4)]
		}
		if len(weights) > len(cands) {
			weights = nil
		} else {
			n = len(weights)
		}
	}
	var out []*dest
	if n == 1 {
		c := cands[0]
		if len(subsets) > 0 && g.chance(0.3) {
			c = cands[g.r.IntN(len(subsets))]
		}
		if len(subsets) > 0 && g.chance(0.2) {
			c.subset = "" // the whole Service, subsets or not
		}
		out = append(out, g.newDest(c.svc, c.host, c.subset, gw, s))
	} else {
		// The first destination is the Service's first subset, the rest
		// the last candidates: v1 90, v2 10 or v1 90, other 10.
		picks := append([]cand{cands[0]}, cands[len(cands)-n+1:]...)
		for i, c := range picks {
			d := g.newDest(c.svc, c.host, c.subset, gw, s)
			d.weight = weights[i]
			out = append(out, d)
		}
	}
	for _, d := range out {
		g.recordUses(vs, d, v)
	}
	return out
}

func (g *fleetGen) newDest(s *service, host, subset string, gw bool, own *service) *dest {
	d := &dest{host: host, subset: subset, svc: s}
	ports := s.routablePorts()
	// Without a port, a destination goes to the listener's port: at a
	// gateway (unless the host has one port) the server's, at a sidecar
	// always a port of the Service the route is for, which another
	// Service may lack.
	needsPort := g.forcePorts || (gw && len(s.ports) > 1) || (s != own && !hasPorts(s, own.routablePorts()))
	if needsPort || (len(ports) > 0 && g.chance(0.25)) {
		if len(ports) == 0 {
			ports = []int{s.ports[0].number}
		}
		d.port = pick(g, ports)
	}
	return d
}

// hasPorts reports whether s has every port number of want.
func hasPorts(s *service, want []int) bool {
	for _, n := range want {
		found := false
		for _, p := range s.ports {
			found = found || p.number == n
		}
		if !found {
			return false
		}
	}
	return true
}

// otherService picks another Service visible from every namespace of v.
func (g *fleetGen) otherService(s *service, v visibility) *service {
	for range 6 {
		o := pick(g, g.services)
		if o != s && g.visibleEverywhere(o, v) {
			return o
		}
	}
	return nil
}

var (
	prefixes = []string{"/api", "/api/v2", "/v1", "/admin", "/static", "/graphql", "/internal"}
	exacts   = []string{"/healthz", "/login", "/", "/checkout"}
	headers  = []kv{{"x-canary", "true"}, {"end-user", "jason"}, {"x-version", "v2"}, {"x-beta", "1"}}
	retryOns = []string{"5xx", "5xx,connect-failure", "gateway-error,reset", "connect-failure,refused-stream,unavailable"}
)

func (g *fleetGen) match() list {
	var m mapping
	switch g.r.IntN(3) {
	case 0:
		m = mapping{{"uri", mapping{{"prefix", pick(g, prefixes)}}}}
	case 1:
		m = mapping{{"uri", mapping{{"exact", pick(g, exacts)}}}}
	default:
		h := pick(g, headers)
		m = mapping{{"headers", mapping{{h.k, mapping{{"exact", h.v}}}}}}
	}
	if g.chance(0.2) {
		return list{m, mapping{{"uri", mapping{{"prefix", pick(g, prefixes)}}}}}
	}
	return list{m}
}

// decorate adds the resilience settings and a mirror to a route.
func (g *fleetGen) decorate(r *httpRoute, s *service, v visibility, gw bool) {
	if g.chance(0.08) {
		m := s
		if o := g.otherService(s, v); o != nil && g.chance(0.5) {
			m = o
		}
		host := m.fqdn()
		if m == s {
			host = r.dests[0].host
		}
		r.mirror = g.newDest(m, host, "", gw, s)
		r.extra = append(r.extra, kv{"mirrorPercentage", mapping{{"value", pick(g, []float64{1, 5, 10, 50, 100})}}})
	}
	if g.chance(0.3) {
		r.extra = append(r.extra, kv{"timeout", pick(g, []string{"2s", "5s", "10s", "30s", "2.5s"})})
	}
	if g.chance(0.3) {
		r.extra = append(r.extra, kv{"retries", mapping{
			{"attempts", pick(g, []int{2, 3, 5})},
			{"perTryTimeout", pick(g, []string{"500ms", "1s", "2s"})},
			{"retryOn", pick(g, retryOns)},
		}})
	}
	if g.chance(0.06) {
		if g.chance(0.5) {
			r.extra = append(r.extra, kv{"fault", mapping{{"delay", mapping{
				{"percentage", mapping{{"value", pick(g, []float64{1, 5, 10})}}},
				{"fixedDelay", pick(g, []string{"1s", "3s", "5s"})},
			}}}})
		} else {
			r.extra = append(r.extra, kv{"fault", mapping{{"abort", mapping{
				{"percentage", mapping{{"value", pick(g, []float64{0.5, 1, 5})}}},
				{"httpStatus", pick(g, []int{500, 503})},
			}}}})
		}
	}
}

// httpRoutes builds one to three named routes to s, the last one
// unmatched.
func (g *fleetGen) httpRoutes(vs *virtualService, s *service, host string, v visibility, gw bool) []*httpRoute {
	n := g.oneToThree(0.35, 0.15)
	var out []*httpRoute
	for i := range n {
		r := &httpRoute{name: "r" + strconv.Itoa(i)}
		if i < n-1 || (n == 1 && g.chance(0.15)) {
			r.match = g.match()
		}
		target, th := s, host
		if gw && i < n-1 && g.chance(0.3) {
			// An ingress path that goes to another Service of the team.
			if o := g.otherService(s, v); o != nil {
				target, th = o, o.fqdn()
			}
		}
		r.dests = g.routeTo(vs, target, th, v, gw)
		g.decorate(r, target, v, gw)
		out = append(out, r)
	}
	return out
}

// meshVisibility is where a mesh VirtualService in ns with exportTo is
// used, narrowed to the namespaces that see its host s.
func (g *fleetGen) meshVisibility(ns string, exportTo []string, s *service) visibility {
	if (len(exportTo) == 0 || slices.Contains(exportTo, "*")) && (s.exportTo == "" || s.exportTo == "*") {
		return visibility{all: true}
	}
	var out []string
	for _, z := range g.everywhere {
		if z == ns || (exported(exportTo, ns, z) && s.visibleFrom(z)) {
			out = append(out, z)
		}
	}
	return visibility{ns: out}
}

// reachesBlind reports whether a VirtualService of ns with exportTo
// reaches namespaces that do not see s (with "*", namespaces that come
// later too).
func (g *fleetGen) reachesBlind(ns string, exportTo []string, s *service) bool {
	if s.exportTo == "" || s.exportTo == "*" {
		return false
	}
	if len(exportTo) == 0 || slices.Contains(exportTo, "*") {
		return true
	}
	for _, z := range g.everywhere {
		if z != ns && exported(exportTo, ns, z) && !s.visibleFrom(z) {
			return true
		}
	}
	return false
}

func (g *fleetGen) vsExportTo(ns string) []string {
	switch x := g.r.Float64(); {
	case x < 0.1:
		return []string{"*"}
	case x < 0.22:
		return []string{"."}
	case x < 0.3 && len(g.namespaces) > 1:
		if o := pick(g, g.namespaces); o != ns {
			return []string{".", o}
		}
	}
	return nil
}

func (g *fleetGen) makeVirtualServices() {
	for _, s := range g.services {
		switch x := g.r.Float64(); {
		case x < 0.62:
			g.meshVS(s)
		case x < 0.72:
			g.gatewayVS(s, true)
		}
		if g.chance(0.12) {
			g.gatewayVS(s, false)
		}
	}
	for _, e := range g.entries {
		if !e.wildcard && g.chance(0.7) {
			g.egressVS(e)
		}
	}
}

func (g *fleetGen) meshVS(s *service) {
	ns, host := s.ns, s.name
	if g.chance(0.3) {
		host = s.fqdn()
	}
	var exportTo []string
	if s.client != "" {
		// A client team's VirtualService for another team's Service.
		ns, host = s.client, s.fqdn()
		if g.chance(0.7) {
			exportTo = []string{"."}
		}
	} else {
		exportTo = g.vsExportTo(ns)
	}
	base := s.name
	if ns != s.ns {
		base = s.name + "-" + s.ns
	}
	if g.reachesBlind(ns, exportTo, s) {
		// Sidecars that do not see s still serve its host on their port-80
		// listener, and would send calls there to clusters they lack.
		exportTo = []string{"."}
	}
	vs := &virtualService{ns: ns, name: g.uniqueName("VirtualService", ns, base), hosts: []string{host}, exportTo: exportTo}
	v := g.meshVisibility(ns, exportTo, s)
	vs.routes = g.httpRoutes(vs, s, host, v, false)
	g.vss = append(g.vss, vs)
}

// gatewayFor picks the Gateway a VirtualService of s binds to and an
// external host it serves there.
func (g *fleetGen) gatewayFor(s *service) (*gateway, string) {
	if gw := g.teamGW[s.ns]; gw != nil && g.chance(0.6) {
		switch gw.style {
		case "exact":
			if len(gw.spare) > 0 {
				h := gw.spare[0]
				gw.spare = gw.spare[1:]
				return gw, h
			}
		default:
			return gw, s.name + "." + gw.domain
		}
	}
	return g.ingress, s.name + "-" + s.ns + ".example.com"
}

// externalHost makes h unique among the hosts Gateways serve.
func (g *fleetGen) externalHost(h string) string {
	for g.used["host/"+h] {
		h = "www." + h
	}
	g.used["host/"+h] = true
	return h
}

func (g *fleetGen) gatewayVS(s *service, meshToo bool) {
	// The ingress gateway's proxy runs in the root namespace and resolves
	// destinations from there.
	if !s.visibleFrom(RootNamespace) {
		if meshToo {
			g.meshVS(s)
		}
		return
	}
	gw, ext := g.gatewayFor(s)
	ext = g.externalHost(ext)
	vs := &virtualService{ns: s.ns, gateway: gw, meshToo: meshToo}
	vs.gateways = []string{gw.ref(s.ns, g.chance(0.5))}
	host := ext
	v := visibility{ns: []string{s.ns, RootNamespace}}
	if meshToo {
		vs.name = g.uniqueName("VirtualService", s.ns, s.name)
		vs.hosts = []string{s.name, ext}
		vs.gateways = append(vs.gateways, "mesh")
		host = s.name
		v = g.meshVisibility(s.ns, nil, s)
	} else {
		vs.name = g.uniqueName("VirtualService", s.ns, s.name+"-ingress")
		vs.hosts = []string{ext}
		host = s.fqdn()
		if g.chance(0.5) {
			host = s.name
		}
		switch x := g.r.Float64(); {
		case x < 0.1:
			vs.exportTo = []string{"*"}
		case x < 0.2 && s.ns != RootNamespace:
			vs.exportTo = []string{".", RootNamespace}
		}
	}
	g.forcePorts = meshToo
	vs.routes = g.httpRoutes(vs, s, host, v, true)
	g.forcePorts = false
	g.vss = append(g.vss, vs)
}

func (g *fleetGen) egressVS(e *serviceEntry) {
	ns := e.ns
	var exportTo []string
	if ns == RootNamespace {
		ns = pick(g, g.namespaces)
		if !exported(e.exportTo, e.ns, ns) {
			return
		}
		if len(e.exportTo) > 0 || g.chance(0.5) {
			exportTo = []string{"."}
		}
	} else if len(e.exportTo) > 0 && e.exportTo[0] != "*" || g.chance(0.4) {
		exportTo = []string{"."}
	}
	vs := &virtualService{ns: ns, name: g.uniqueName("VirtualService", ns, "egress-"+e.name), hosts: []string{e.host}, exportTo: exportTo}
	if e.hasPort(80) {
		r := &httpRoute{name: "r0", dests: []*dest{{host: e.host, port: 80, se: e}}}
		if g.chance(0.6) {
			r.extra = append(r.extra, kv{"timeout", pick(g, []string{"3s", "10s"})})
		}
		if g.chance(0.5) {
			r.extra = append(r.extra, kv{"retries", mapping{{"attempts", 3}, {"perTryTimeout", "2s"}, {"retryOn", "connect-failure,reset"}}})
		}
		vs.routes = []*httpRoute{r}
	} else {
		vs.routes = []*httpRoute{{tlsPort: 443, dests: []*dest{{host: e.host, port: 443, se: e}}}}
	}
	g.vss = append(g.vss, vs)
}
