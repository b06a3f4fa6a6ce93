package policies

import (
	"fmt"
	"sort"
	"strings"
)

// Check documents one finding code of the built-in policies. The catalogue
// feeds SARIF rule metadata and docs/checks.md, and a test keeps it in step
// with the codes the Rego files emit.
type Check struct {
	Code     string
	Name     string
	Category string
	Severity Severity
	Summary  string
	// Bad is a manifest fragment that triggers the check; Fix says how to mend it.
	Bad string
	Fix string
	// Class is breakage (traffic fails: an error exactly when Istio's
	// control plane shows it, held against pilot by test/oracle), intent
	// (Istio routes it, but not as written) or schema (Istio refuses it).
	Class string
	// Istio says what Istio does with such config.
	Istio string
}

// Classes of checks.
const (
	ClassBreakage = "breakage"
	ClassIntent   = "intent"
	ClassSchema   = "schema"
)

// behaviour is each code's class and what Istio does, kept beside the
// catalogue so docs/checks.md can say it.
var behaviour = map[string][2]string{
	"MESH0101": {ClassSchema, "Istio's validation refuses a negative weight; without it pilot would read it as an unsigned number and Envoy would send nearly all traffic there."},
	"MESH0102": {ClassBreakage, "pilot leaves weight-0 destinations out of Envoy's weighted clusters; with all of them out the route has no cluster and Envoy refuses the route configuration."},
	"MESH0103": {ClassBreakage, "Envoy refuses weighted clusters whose weights add up to more than 4294967295, and with them the route configuration."},
	"MESH0104": {ClassIntent, "Istio treats weights as relative: 90 and 20 send about 82% and 18% of requests."},
	"MESH0105": {ClassIntent, "a route with one destination sends it all traffic whatever its weight."},
	"MESH0106": {ClassIntent, "Envoy gets the same cluster twice among the weighted clusters, and the cluster gets their summed share."},
	"MESH0201": {ClassBreakage, "pilot builds the route to a cluster named after the host, which does not exist for that namespace's sidecars (or is the black hole at a gateway): calls fail with 503 (no cluster). A destination of weight 0 beside others is left out and cannot fail."},
	"MESH0202": {ClassIntent, "pilot applies a DestinationRule only to a host a Service or ServiceEntry provides, so this one applies to nothing."},
	"MESH0301": {ClassBreakage, "the route names the cluster outbound|port|subset|host, which exists only when the DestinationRule the calling namespace gets defines the subset: calls fail with 503 (no cluster)."},
	"MESH0302": {ClassIntent, "the subset's cluster exists but has no endpoints until matching pods run: calls fail with 503 (no healthy upstream) meanwhile."},
	"MESH0303": {ClassIntent, "pilot builds the subset from its first definition and ignores the second."},
	"MESH0401": {ClassBreakage, "the route names the cluster outbound|port||host for a port the host lacks, which does not exist: calls fail with 503 (no cluster)."},
	"MESH0402": {ClassBreakage, "without port.number pilot names the cluster after the port of the listener the route is served on: at a sidecar always (it looks the destination up among the Services on that port only, so even a single-port Service does not lend its port), at a gateway unless the destination host has a single port. When the host lacks that port the cluster does not exist and calls fail with 503."},
	"MESH0501": {ClassBreakage, "pilot drops the binding to a Gateway that does not exist, so the routes are never applied there."},
	"MESH0502": {ClassBreakage, "a gateway takes only VirtualServices with a host one of its servers accepts, so none of the routes is applied there."},
	"MESH0503": {ClassIntent, "the other hosts are routed; this one gets no route on any bound gateway."},
	"MESH0504": {ClassBreakage, "a gateway sees only VirtualServices exported to its namespace, so none of the routes is applied there."},
	"MESH0601": {ClassBreakage, "once the subset is gone its cluster is removed, and routes still naming it fail with 503 (no cluster). Routes with weight 0 beside others are not counted: pilot sends them nothing."},
	"MESH0602": {ClassBreakage, "once the rule is gone its subsets' clusters are removed, and routes still naming them fail with 503."},
	"MESH0603": {ClassBreakage, "once the ServiceEntry is gone its hosts' clusters are removed, and routes to them fail with 503."},
	"MESH0604": {ClassBreakage, "once the Gateway is gone, pilot drops the bindings and the routes are no longer applied there."},
	"MESH0809": {ClassIntent, "the Gateway API makes weights relative and pilot passes them to Envoy as they are: 90 and 20 send about 82% and 18% of requests."},
	"MESH0605": {ClassBreakage, "without a ReferenceGrant allowing it, pilot builds a cross-namespace backendRef's destination with no host (RefNotPermitted) and calls fail. Only backendRefs that no other ReferenceGrant allows, and that work now, are counted."},
	"MESH0606": {ClassBreakage, "once the Service is gone, backendRefs to it end in a cluster that does not exist and pilot no longer binds routes that name it as parent. References that already fail, or with weight 0 beside others, are not counted."},
	"MESH0607": {ClassBreakage, "pilot names the cluster after the backendRef's port (a Service parent binds on its port); once the Service lacks the port that cluster does not exist and calls fail with 503."},
	"MESH0608": {ClassBreakage, "pilot binds a route only to listeners that exist, match its sectionName and port, and admit it; without one the route is no longer applied at that Gateway."},
	"MESH0701": {ClassSchema, "Istio's validation refuses a field of the wrong type."},
	"MESH0801": {ClassBreakage, "pilot builds the route to a cluster named after the backend's host (name.namespace.svc for a Service), which does not exist: calls fail. A Service not exported to the route's namespace (networking.istio.io/exportTo) has no cluster for its sidecars either. A kind other than Service or Hostname makes pilot drop the whole route. A weight-0 backendRef beside others is left out and cannot fail."},
	"MESH0802": {ClassBreakage, "pilot names the cluster outbound|port||host after the backendRef's port; when the Service lacks that port the cluster does not exist and calls fail with 503 (no cluster)."},
	"MESH0803": {ClassBreakage, "without a ReferenceGrant in the backend's namespace pilot builds the destination with no host (cluster outbound|0||) where it applies the route at a Gateway, which does not exist, and marks the route ResolvedRefs=False (RefNotPermitted). A route bound to Services alone (mesh routing) needs no grant: pilot does not ask for one there."},
	"MESH0804": {ClassBreakage, "pilot binds a route only to parents that exist; it marks the route Accepted=False and no rule of it is applied for that parent. A Service parent not exported to the route's namespace has no virtual host there to carry the route."},
	"MESH0805": {ClassBreakage, "a parentRef's sectionName and port select listeners of the Gateway (ports of the Service); when none matches pilot does not bind the route there. A Service parent's routes are served on its HTTP ports only: on a port named tcp-, tls-, https- and the like the route does nothing."},
	"MESH0806": {ClassBreakage, "a listener takes only routes its allowedRoutes admit (namespaces from Same by default, and the kinds its protocol carries); pilot does not bind the route to it (NotAllowedByListeners)."},
	"MESH0807": {ClassSchema, "the Gateway API CRD schema refuses a negative weight (minimum 0)."},
	"MESH0808": {ClassBreakage, "when no backendRef of a rule has a weight above 0, pilot answers every call of the rule with 500, as the specification asks."},
	"MESH0702": {ClassSchema, "Istio's validation refuses the object without that field."},
}

// Checks lists the built-in checks by code.
func Checks() []Check {
	return withBehaviour([]Check{
		check("MESH0101", "NegativeWeight", "weight", SeverityError,
			"A route destination has a negative weight.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 110\n- destination: {host: reviews, subset: v2}\n  weight: -10",
			"Use weights between 0 and 100 that add up to 100."),
		check("MESH0102", "ZeroTotalWeight", "weight", SeverityError,
			"The weights of a route with several destinations add up to 0, so it sends traffic nowhere.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 0\n- destination: {host: reviews, subset: v2}\n  weight: 0",
			"Give the destinations weights that add up to 100."),
		check("MESH0103", "WeightOverflow", "weight", SeverityError,
			"The weights of a route add up to more than a 32-bit integer holds.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 2147483647\n- destination: {host: reviews, subset: v2}\n  weight: 1",
			"Use weights that add up to 100."),
		check("MESH0104", "WeightsNotHundred", "weight", SeverityError,
			"The weights of a route with several destinations do not add up to 100 (Istio treats them as relative, but 90/20 is nearly always a typo). Configurable: set MESH0104 to warning or off.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 90\n- destination: {host: reviews, subset: v2}\n  weight: 20",
			"Make the weights add up to 100, e.g. 90 and 10."),
		check("MESH0105", "SingleDestinationWeight", "weight", SeverityWarning,
			"The only destination of a route has a weight other than 100; it gets all traffic anyway.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 50",
			"Write weight 100 or leave the weight out."),
		check("MESH0106", "DuplicateDestination", "weight", SeverityWarning,
			"The same host, subset and port appear twice in one route.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 50\n- destination: {host: reviews, subset: v1}\n  weight: 50",
			"Merge them into one destination with the summed weight."),
		check("MESH0201", "UnknownHost", "host", SeverityError,
			"A destination or mirror host resolves to no Service or ServiceEntry visible from the VirtualService's namespace (short names resolve in that namespace; exportTo is honoured).",
			"# VirtualService in namespace team\nroute:\n- destination: {host: reviews}   # the Service is in namespace default",
			"Use the fully qualified name (reviews.default.svc.cluster.local), create the Service or a ServiceEntry, or export it to the namespace."),
		check("MESH0202", "DestinationRuleForUnknownHost", "host", SeverityWarning,
			"A DestinationRule's host resolves to no Service or ServiceEntry, so the rule applies to nothing.",
			"kind: DestinationRule\nspec:\n  host: reveiws",
			"Correct the host, or create the Service it is meant for."),
		check("MESH0301", "UnknownSubset", "subset", SeverityError,
			"A route or mirror names a subset that the DestinationRule the calling namespace gets (its own namespace, then the host's, then the root namespace; exportTo honoured) does not define. Istio answers such requests with 503.",
			"route:\n- destination: {host: reviews, subset: v3}   # the DestinationRule defines v1 and v2",
			"Add the subset to the DestinationRule before routing to it, or route to a subset it defines."),
		check("MESH0302", "SubsetSelectsNothing", "subset", SeverityWarning,
			"A routed subset's labels select none of the workloads given (pods may be on their way, so this is a warning; it is only checked when workloads of that namespace are in the input or cluster).",
			"subsets:\n- name: v2\n  labels: {version: v2}   # no pod of the Service has version=v2",
			"Deploy the workloads first, or correct the subset's labels."),
		check("MESH0303", "DuplicateSubset", "subset", SeverityError,
			"A DestinationRule defines the same subset name twice; Istio uses the first.",
			"subsets:\n- name: v1\n  labels: {version: v1}\n- name: v1\n  labels: {version: v2}",
			"Rename or remove one of them."),
		check("MESH0401", "UnknownPort", "port", SeverityError,
			"A destination selects a port the Service or ServiceEntry does not expose.",
			"route:\n- destination:\n    host: reviews\n    port: {number: 8080}   # the Service exposes 9080",
			"Use one of the ports the message lists."),
		check("MESH0402", "PortSelectorRequired", "port", SeverityError,
			"A destination without port.number goes to the port of the listener its route is served on, and its host lacks that port: the VirtualService is for another Service whose port the destination lacks, or it is bound to a Gateway (listener port 80) and the destination host has several ports, none of them 80. A mesh route to the Service it is for always finds its port.",
			"# Gateway server on port 80; api exposes 9080 (http) and 9090 (grpc)\ngateways: [istio-system/edge]\nhttp:\n- route:\n  - destination: {host: api}",
			"Add port.number to the destination."),
		check("MESH0501", "UnknownGateway", "gateway", SeverityError,
			"A VirtualService binds to a Gateway that does not exist (a name without a namespace means the VirtualService's namespace; mesh is reserved for sidecars).",
			"gateways:\n- bookinfo-gateway   # the Gateway is in istio-system",
			"Create the Gateway, or write namespace/name."),
		check("MESH0502", "HostsNotServedByGateway", "gateway", SeverityError,
			"None of the VirtualService's hosts is served by a server of a Gateway it binds to, so the gateway ignores it.",
			"# Gateway servers: hosts [\"bookinfo.example.com\"]\nhosts: [\"shop.example.com\"]\ngateways: [bookinfo-gateway]",
			"Add the host to a server of the Gateway, or to the VirtualService."),
		check("MESH0503", "HostNotServedByGateway", "gateway", SeverityWarning,
			"One of the VirtualService's hosts is served by none of the gateways it binds to (mesh, when bound, serves every host), so it is unreachable.",
			"# Gateway servers: hosts [\"a.example.com\"]\nhosts: [\"a.example.com\", \"b.example.com\"]",
			"Add the host to a server of the Gateway, or drop it from the VirtualService."),
		check("MESH0504", "HiddenFromGateway", "gateway", SeverityError,
			"The VirtualService's exportTo does not include the namespace of a Gateway it binds to, so the gateway never sees it.",
			"exportTo: [\".\"]\ngateways: [istio-system/ingress]",
			"Add the gateway's namespace to exportTo."),
		check("MESH0601", "SubsetStillRouted", "reference", SeverityError,
			"An update of a DestinationRule removes a subset that VirtualServices still route to.",
			"# reviews VirtualService routes to subset v3; the update drops v3 from the DestinationRule",
			"Move the routes off the subset first (kubectl mesh canary set), then remove it."),
		check("MESH0602", "DestinationRuleStillRouted", "reference", SeverityError,
			"A deleted DestinationRule defines subsets that VirtualServices still route to.",
			"kubectl delete destinationrule reviews   # a VirtualService routes to reviews subset v2",
			"Remove the subset routes from the VirtualServices first."),
		check("MESH0603", "ServiceEntryStillRouted", "reference", SeverityError,
			"A deleted ServiceEntry provides a host that VirtualServices still route to.",
			"kubectl delete serviceentry external-api   # a VirtualService routes to api.example.com",
			"Remove the routes to its hosts first."),
		check("MESH0604", "GatewayStillBound", "reference", SeverityError,
			"A deleted Gateway is still bound by VirtualServices.",
			"kubectl delete gateway.networking.istio.io bookinfo-gateway   # VirtualService bookinfo binds to it",
			"Unbind or delete those VirtualServices first."),
		check("MESH0605", "ReferenceGrantStillUsed", "reference", SeverityError,
			"An update or delete of a ReferenceGrant takes away the permission that cross-namespace backendRefs of HTTPRoutes or GRPCRoutes still need, and no other ReferenceGrant gives it.",
			"kubectl delete referencegrant -n default team-routes   # HTTPRoute team/reviews routes to Service default/reviews",
			"Point the backendRefs at Services of the routes' namespace, or add another ReferenceGrant first."),
		check("MESH0606", "ServiceStillRouted", "reference", SeverityError,
			"A deleted Service is still a working backend (or parent) of HTTPRoutes or GRPCRoutes.",
			"kubectl delete service ratings   # HTTPRoute reviews has a backendRef to ratings",
			"Remove the backendRefs and parentRefs naming it first."),
		check("MESH0607", "ServicePortStillRouted", "reference", SeverityError,
			"An update of a Service removes a port that backendRefs (or Service parentRefs) of HTTPRoutes or GRPCRoutes still name.",
			"# HTTPRoute reviews: backendRefs [{name: reviews, port: 9080}]\nports: [{name: http, port: 9090}]   # was 9080",
			"Keep the port, or move the references to another port first."),
		check("MESH0608", "GatewayAPIGatewayStillBound", "reference", SeverityError,
			"A deleted Gateway API Gateway, or one updated to lose a listener (or to stop admitting routes), still has HTTPRoutes or GRPCRoutes bound through it.",
			"kubectl delete gateway.gateway.networking.k8s.io web   # HTTPRoute reviews has parentRef web",
			"Move the routes' parentRefs to another Gateway or listener first."),
		check("MESH0801", "UnknownBackend", "route", SeverityError,
			"A backendRef of an HTTPRoute or GRPCRoute names a Service (or Hostname) that does not exist, or a kind Istio does not route to.",
			"rules:\n- backendRefs:\n  - {name: reviewz, port: 9080}   # no Service reviewz",
			"Create the Service, fix the name, or use kind Hostname (group networking.istio.io) for a ServiceEntry host."),
		check("MESH0802", "UnknownBackendPort", "route", SeverityError,
			"A backendRef names a port its Service does not have.",
			"rules:\n- backendRefs:\n  - {name: reviews, port: 8080}   # reviews has port 9080 only",
			"Use one of the Service's ports."),
		check("MESH0803", "BackendNotPermitted", "route", SeverityError,
			"A backendRef of a route bound to a Gateway names a Service of another namespace, and no ReferenceGrant there allows routes of the route's namespace to refer to it.",
			"# HTTPRoute in namespace team\nrules:\n- backendRefs:\n  - {name: reviews, namespace: default, port: 9080}",
			"Add a ReferenceGrant in the Service's namespace from the route's kind and namespace to Services, or route to a Service of the route's namespace."),
		check("MESH0804", "UnknownParent", "route", SeverityError,
			"A parentRef names a Gateway API Gateway (or, for mesh routing, a Service) that does not exist.",
			"parentRefs:\n- name: web-gateway   # no Gateway web-gateway in the route's namespace",
			"Create the Gateway, fix the name, or set the namespace."),
		check("MESH0805", "UnknownListener", "route", SeverityError,
			"A parentRef's sectionName or port names no listener of the Gateway (no port of the Service, or one that carries no HTTP).",
			"parentRefs:\n- {name: web, sectionName: https}   # web has listener http only",
			"Name a listener the Gateway has, or drop sectionName and port."),
		check("MESH0806", "RouteNotAllowed", "route", SeverityError,
			"No listener of the parent Gateway that the parentRef selects admits the route: allowedRoutes takes routes of the Gateway's namespace only by default, and the kinds of its protocol.",
			"# Gateway web in istio-ingress, listeners without allowedRoutes\n# HTTPRoute in namespace team\nparentRefs:\n- {name: web, namespace: istio-ingress}",
			"Set the listener's allowedRoutes.namespaces.from to All (or a selector), or move the route to the Gateway's namespace."),
		check("MESH0807", "NegativeBackendWeight", "route", SeverityError,
			"A backendRef has a negative weight.",
			"rules:\n- backendRefs:\n  - {name: reviews, port: 9080, weight: -1}",
			"Use a weight of 0 or more; weights are relative and need not add up to 100."),
		check("MESH0808", "ZeroBackendWeights", "route", SeverityError,
			"The weights of a rule's backendRefs add up to 0, so every call of the rule gets a 500.",
			"rules:\n- backendRefs:\n  - {name: reviews, port: 9080, weight: 0}\n  - {name: ratings, port: 9080, weight: 0}",
			"Give at least one backendRef a weight above 0."),
		check("MESH0809", "BackendWeightsNotHundred", "route", SeverityWarning,
			"The weights written on a rule's backendRefs (several of them) do not add up to 100. The Gateway API treats them as relative, so this is a warning at most; backendRefs without weights split evenly and are not reported. Configurable: set MESH0809 to off (or error).",
			"rules:\n- backendRefs:\n  - {name: reviews-v1, port: 9080, weight: 90}\n  - {name: reviews-v2, port: 9080, weight: 20}",
			"Make the weights add up to 100, e.g. 90 and 10, or turn MESH0809 off where relative weights are meant."),
		check("MESH0701", "WrongType", "schema", SeverityError,
			"A field the checks read has the wrong type.",
			"route:\n- destination: {host: reviews}\n  weight: \"90\"",
			"Write the field with the type the message names."),
		check("MESH0702", "MissingField", "schema", SeverityError,
			"A field Istio requires is missing or empty.",
			"kind: VirtualService\nspec:\n  http: []   # no hosts",
			"Add the field."),
	})
}

// check is one entry of the catalogue; withBehaviour adds its class.
func check(code, name, category string, severity Severity, summary, bad, fix string) Check {
	return Check{Code: code, Name: name, Category: category, Severity: severity, Summary: summary, Bad: bad, Fix: fix}
}

// withBehaviour fills in each check's class and what Istio does.
func withBehaviour(checks []Check) []Check {
	for i := range checks {
		b := behaviour[checks[i].Code]
		checks[i].Class, checks[i].Istio = b[0], b[1]
	}
	return checks
}

// CheckByCode returns the check of a code.
func CheckByCode(code string) (Check, bool) {
	for _, c := range Checks() {
		if c.Code == code {
			return c, true
		}
	}
	return Check{}, false
}

// ChecksMarkdown renders the catalogue as docs/checks.md.
func ChecksMarkdown() string {
	var b strings.Builder
	b.WriteString("# Checks\n\n")
	b.WriteString("Every finding carries a stable code. `kubectl mesh validate` and mesh-webhook report the same codes with the same messages.\n")
	b.WriteString("Severities can be changed per code in the config file (`--config`), e.g. `rules: {MESH0104: warning}`.\n\n")
	b.WriteString("This page is generated from `policies/codes.go` (`make docs`); a test keeps it current.\n\n")
	b.WriteString("What decides right and wrong is what Istio's control plane does with the config. Each check has a class:\n\n")
	b.WriteString("- **breakage**: traffic fails (a cluster that does not exist, the black hole, routes never applied, a Gateway that does not exist). These are errors exactly where pilot shows the failure: `test/oracle` runs pilot's discovery server and traffic simulator over hand-written and generated meshes and requires agreement.\n")
	b.WriteString("- **intent**: Istio routes it, but not as written. Severities are defaults, configurable per code, and each message says what Istio will do.\n")
	b.WriteString("- **schema**: Istio's own validation refuses the object.\n\n")
	b.WriteString("| code | name | category | class | default severity |\n| --- | --- | --- | --- | --- |\n")
	checks := Checks()
	sort.Slice(checks, func(i, j int) bool { return checks[i].Code < checks[j].Code })
	for _, c := range checks {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s | %s |\n", c.Code, strings.ToLower(c.Code), c.Name, c.Category, c.Class, c.Severity)
	}
	for _, c := range checks {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** (%s, %s, %s). %s\n\nWhat Istio does: %s\n\nExample that triggers it:\n\n```yaml\n%s\n```\n\nFix: %s\n", c.Code, c.Name, c.Category, c.Class, c.Severity, c.Summary, c.Istio, c.Bad, c.Fix)
	}
	return b.String()
}
