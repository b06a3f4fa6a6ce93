# backendRefs of Gateway API routes. pilot turns each backendRef into a
# destination outbound|port||host; one whose Service (or Hostname) does not
# exist, whose port the Service lacks, or that crosses namespaces without a
# ReferenceGrant leaves calls on a cluster that does not exist, as does a
# Service not exported to the route's namespace. The Go side
# resolves each backendRef (input.facts.backendRefs) so that this package
# reads booleans only; a weight-0 backendRef beside others is dropped by
# pilot and cannot fail.

# METADATA
# title: Route backends
# custom:
#   kinds: [HTTPRoute, GRPCRoute]
#   facts: [backendRefs]
package mesh.backendrefs

import data.mesh.lib

findings contains lib.error("MESH0801", "route", b.field, msg) if {
	some b in input.facts.backendRefs
	live(b)
	not b.supported
	msg := sprintf("backendRef kind %q is not one Istio routes to; use a Service, or kind Hostname of group networking.istio.io", [b.kind])
}

findings contains lib.error("MESH0801", "route", b.field, msg) if {
	some b in input.facts.backendRefs
	live(b)
	b.supported
	b.permitted
	not b.exists
	msg := sprintf("%s %s does not exist, so calls routed to it fail with 500; create it or fix the name", [b.kind, target(b)])
}

findings contains lib.error("MESH0801", "route", b.field, msg) if {
	some b in input.facts.backendRefs
	live(b)
	b.permitted
	b.exists
	not b.visible
	msg := sprintf("%s %s is not exported to namespace %s (networking.istio.io/exportTo), so sidecars there have no cluster for it and calls fail; export it there", [b.kind, target(b), input.facts.namespace])
}

findings contains lib.error("MESH0802", "route", sprintf("%s.port", [b.field]), msg) if {
	some b in input.facts.backendRefs
	live(b)
	b.exists
	b.visible
	b.permitted
	b.port != null
	not b.portExists
	msg := sprintf("%s %s has no port %v, so calls routed to it fail with 503; use one of its ports", [b.kind, target(b), b.port])
}

findings contains lib.error("MESH0803", "route", sprintf("%s.namespace", [b.field]), msg) if {
	some b in input.facts.backendRefs
	live(b)
	b.crossNamespace
	not b.permitted
	msg := sprintf("no ReferenceGrant in namespace %s lets %ss of namespace %s refer to %s %s; add one, or route to a Service of the route's namespace", [b.namespace, input.kind, input.facts.namespace, b.kind, b.name])
}

live(b) if not b.dropped

target(b) := sprintf("%s/%s", [b.namespace, b.name]) if b.kind == "Service"

else := b.name
