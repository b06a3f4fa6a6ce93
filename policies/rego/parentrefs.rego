# parentRefs of Gateway API routes. pilot binds a route only to a parent
# that exists (a Gateway API Gateway, or a Service for mesh routing), on a
# listener the sectionName and port name and whose allowedRoutes admit the
# route; otherwise the route is never applied there. The Go side resolves
# each parentRef (input.facts.parentRefs); Istio's own Gateway kind is not
# a parent here: Gateway API Gateways are keyed by their group.

# METADATA
# title: Route parents
# custom:
#   kinds: [HTTPRoute, GRPCRoute]
#   facts: [parentRefs]
package mesh.parentrefs

import data.mesh.lib

findings contains lib.error("MESH0804", "route", p.field, msg) if {
	some p in input.facts.parentRefs
	p.supported
	not p.exists
	msg := sprintf("%s %s/%s does not exist, so the route is applied nowhere for this parent; create it or fix the name", [p.kind, p.namespace, p.name])
}

findings contains lib.error("MESH0804", "route", p.field, msg) if {
	some p in input.facts.parentRefs
	p.exists
	not p.visible
	msg := sprintf("%s %s/%s is not exported to namespace %s (networking.istio.io/exportTo), so no sidecar there carries the route; export it there or move the route", [p.kind, p.namespace, p.name, input.facts.namespace])
}

findings contains lib.error("MESH0805", "route", p.field, msg) if {
	some p in input.facts.parentRefs
	p.exists
	p.visible
	not p.listenerFound
	msg := sprintf("%s %s/%s has no %s, so the route is not bound to it; name one it has", [p.kind, p.namespace, p.name, wanted(p)])
}

findings contains lib.error("MESH0806", "route", p.field, msg) if {
	some p in input.facts.parentRefs
	p.listenerFound
	not p.admitted
	msg := sprintf("no listener of %s %s/%s that the route names admits %ss of namespace %s (allowedRoutes); widen allowedRoutes or move the route", [p.kind, p.namespace, p.name, input.kind, input.facts.namespace])
}

wanted(p) := sprintf("port %v carrying HTTP (ports named tcp-, tls-, https- and the like carry none)", [p.port]) if {
	p.kind == "Service"
	p.hasPort
}

else := "port carrying HTTP" if p.kind == "Service"

else := sprintf("listener %q", [p.sectionName]) if {
	p.sectionName != ""
	not p.hasPort
}

else := sprintf("listener %q on port %v", [p.sectionName, p.port]) if p.sectionName != ""

else := sprintf("port %v", [p.port])
