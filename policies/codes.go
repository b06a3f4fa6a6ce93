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
}

// Checks lists the built-in checks by code.
func Checks() []Check {
	return []Check{
		{"MESH0101", "NegativeWeight", "weight", SeverityError,
			"A route destination has a negative weight.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 110\n- destination: {host: reviews, subset: v2}\n  weight: -10",
			"Use weights between 0 and 100 that add up to 100."},
		{"MESH0102", "ZeroTotalWeight", "weight", SeverityError,
			"The weights of a route with several destinations add up to 0, so it sends traffic nowhere.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 0\n- destination: {host: reviews, subset: v2}\n  weight: 0",
			"Give the destinations weights that add up to 100."},
		{"MESH0103", "WeightOverflow", "weight", SeverityError,
			"The weights of a route add up to more than a 32-bit integer holds.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 2147483647\n- destination: {host: reviews, subset: v2}\n  weight: 1",
			"Use weights that add up to 100."},
		{"MESH0104", "WeightsNotHundred", "weight", SeverityError,
			"The weights of a route with several destinations do not add up to 100 (Istio treats them as relative, but 90/20 is nearly always a typo). Configurable: set MESH0104 to warning or off.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 90\n- destination: {host: reviews, subset: v2}\n  weight: 20",
			"Make the weights add up to 100, e.g. 90 and 10."},
		{"MESH0105", "SingleDestinationWeight", "weight", SeverityWarning,
			"The only destination of a route has a weight other than 100; it gets all traffic anyway.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 50",
			"Write weight 100 or leave the weight out."},
		{"MESH0106", "DuplicateDestination", "weight", SeverityWarning,
			"The same host, subset and port appear twice in one route.",
			"route:\n- destination: {host: reviews, subset: v1}\n  weight: 50\n- destination: {host: reviews, subset: v1}\n  weight: 50",
			"Merge them into one destination with the summed weight."},
		{"MESH0201", "UnknownHost", "host", SeverityError,
			"A destination or mirror host resolves to no Service or ServiceEntry visible from the VirtualService's namespace (short names resolve in that namespace; exportTo is honoured).",
			"# VirtualService in namespace team\nroute:\n- destination: {host: reviews}   # the Service is in namespace default",
			"Use the fully qualified name (reviews.default.svc.cluster.local), create the Service or a ServiceEntry, or export it to the namespace."},
		{"MESH0202", "DestinationRuleForUnknownHost", "host", SeverityWarning,
			"A DestinationRule's host resolves to no Service or ServiceEntry, so the rule applies to nothing.",
			"kind: DestinationRule\nspec:\n  host: reveiws",
			"Correct the host, or create the Service it is meant for."},
		{"MESH0301", "UnknownSubset", "subset", SeverityError,
			"A route or mirror names a subset that the DestinationRule the calling namespace gets (its own namespace, then the host's, then the root namespace; exportTo honoured) does not define. Istio answers such requests with 503.",
			"route:\n- destination: {host: reviews, subset: v3}   # the DestinationRule defines v1 and v2",
			"Add the subset to the DestinationRule before routing to it, or route to a subset it defines."},
		{"MESH0302", "SubsetSelectsNothing", "subset", SeverityWarning,
			"A routed subset's labels select none of the workloads given (pods may be on their way, so this is a warning; it is only checked when workloads of that namespace are in the input or cluster).",
			"subsets:\n- name: v2\n  labels: {version: v2}   # no pod of the Service has version=v2",
			"Deploy the workloads first, or correct the subset's labels."},
		{"MESH0303", "DuplicateSubset", "subset", SeverityError,
			"A DestinationRule defines the same subset name twice; Istio uses the first.",
			"subsets:\n- name: v1\n  labels: {version: v1}\n- name: v1\n  labels: {version: v2}",
			"Rename or remove one of them."},
		{"MESH0401", "UnknownPort", "port", SeverityError,
			"A destination selects a port the Service or ServiceEntry does not expose.",
			"route:\n- destination:\n    host: reviews\n    port: {number: 8080}   # the Service exposes 9080",
			"Use one of the ports the message lists."},
		{"MESH0402", "PortSelectorRequired", "port", SeverityError,
			"A destination without port.number goes to the port of the listener its route is served on (unless its host has a single port), and its host, which has several ports, lacks that port: the route is bound to a Gateway (listener port 80, Service port 9080), or the VirtualService is for another Service whose ports the destination lacks. A mesh route to the Service it is for always finds its port.",
			"# Gateway server on port 80; api exposes 9080 (http) and 9090 (grpc)\ngateways: [istio-system/edge]\nhttp:\n- route:\n  - destination: {host: api}",
			"Add port.number to the destination."},
		{"MESH0501", "UnknownGateway", "gateway", SeverityError,
			"A VirtualService binds to a Gateway that does not exist (a name without a namespace means the VirtualService's namespace; mesh is reserved for sidecars).",
			"gateways:\n- bookinfo-gateway   # the Gateway is in istio-system",
			"Create the Gateway, or write namespace/name."},
		{"MESH0502", "HostsNotServedByGateway", "gateway", SeverityError,
			"None of the VirtualService's hosts is served by a server of a Gateway it binds to, so the gateway ignores it.",
			"# Gateway servers: hosts [\"bookinfo.example.com\"]\nhosts: [\"shop.example.com\"]\ngateways: [bookinfo-gateway]",
			"Add the host to a server of the Gateway, or to the VirtualService."},
		{"MESH0503", "HostNotServedByGateway", "gateway", SeverityWarning,
			"One of the VirtualService's hosts is served by none of the gateways it binds to (mesh, when bound, serves every host), so it is unreachable.",
			"# Gateway servers: hosts [\"a.example.com\"]\nhosts: [\"a.example.com\", \"b.example.com\"]",
			"Add the host to a server of the Gateway, or drop it from the VirtualService."},
		{"MESH0504", "HiddenFromGateway", "gateway", SeverityError,
			"The VirtualService's exportTo does not include the namespace of a Gateway it binds to, so the gateway never sees it.",
			"exportTo: [\".\"]\ngateways: [istio-system/ingress]",
			"Add the gateway's namespace to exportTo."},
		{"MESH0601", "SubsetStillRouted", "reference", SeverityError,
			"An update of a DestinationRule removes a subset that VirtualServices still route to.",
			"# reviews VirtualService routes to subset v3; the update drops v3 from the DestinationRule",
			"Move the routes off the subset first (kubectl mesh canary set), then remove it."},
		{"MESH0602", "DestinationRuleStillRouted", "reference", SeverityError,
			"A deleted DestinationRule defines subsets that VirtualServices still route to.",
			"kubectl delete destinationrule reviews   # a VirtualService routes to reviews subset v2",
			"Remove the subset routes from the VirtualServices first."},
		{"MESH0603", "ServiceEntryStillRouted", "reference", SeverityError,
			"A deleted ServiceEntry provides a host that VirtualServices still route to.",
			"kubectl delete serviceentry external-api   # a VirtualService routes to api.example.com",
			"Remove the routes to its hosts first."},
		{"MESH0604", "GatewayStillBound", "reference", SeverityError,
			"A deleted Gateway is still bound by VirtualServices.",
			"kubectl delete gateway bookinfo-gateway   # VirtualService bookinfo binds to it",
			"Unbind or delete those VirtualServices first."},
		{"MESH0701", "WrongType", "schema", SeverityError,
			"A field the checks read has the wrong type.",
			"route:\n- destination: {host: reviews}\n  weight: \"90\"",
			"Write the field with the type the message names."},
		{"MESH0702", "MissingField", "schema", SeverityError,
			"A field Istio requires is missing or empty.",
			"kind: VirtualService\nspec:\n  http: []   # no hosts",
			"Add the field."},
	}
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
	b.WriteString("| code | name | category | default severity |\n| --- | --- | --- | --- |\n")
	checks := Checks()
	sort.Slice(checks, func(i, j int) bool { return checks[i].Code < checks[j].Code })
	for _, c := range checks {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s |\n", c.Code, strings.ToLower(c.Code), c.Name, c.Category, c.Severity)
	}
	for _, c := range checks {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** (%s, %s). %s\n\nExample that triggers it:\n\n```yaml\n%s\n```\n\nFix: %s\n", c.Code, c.Name, c.Category, c.Severity, c.Summary, c.Bad, c.Fix)
	}
	return b.String()
}
