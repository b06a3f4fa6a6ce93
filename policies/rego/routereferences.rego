# The referenced side of Gateway API routes: an update or delete of a
# Service, a Gateway API Gateway or a ReferenceGrant must not break what
# HTTPRoutes and GRPCRoutes route to or bind. The Go side resolves every
# route referring to the object's namespace with the stored object and
# with the new one (none on DELETE), as MESH0801-0806 resolve a route;
# input.facts.routeUses lists each backendRef or parentRef that works now
# and would not. A reference pilot already refuses, or that something else
# still permits, is not listed.

# METADATA
# title: Route references
# custom:
#   kinds: [Service, ReferenceGrant, gateway.networking.k8s.io/Gateway]
#   operations: [UPDATE, DELETE]
#   facts: [routeUses]
package mesh.routereferences

import data.mesh.lib

findings contains lib.error("MESH0605", "reference", field, msg) if {
	input.kind == "ReferenceGrant"
	input.facts.routeUses[0]
	field := changed_field("spec")
	msg := sprintf("%s still refer across namespaces through this ReferenceGrant, and no other one allows it, so pilot would route them nowhere (RefNotPermitted); point them elsewhere or add another ReferenceGrant first", [users])
}

findings contains lib.error("MESH0606", "reference", "metadata.name", msg) if {
	input.kind == "Service"
	input.operation == "DELETE"
	input.facts.routeUses[0]
	msg := sprintf("this Service is still a backend or parent of %s; remove those references first, then delete the Service", [users])
}

findings contains lib.error("MESH0607", "reference", "spec.ports", msg) if {
	input.kind == "Service"
	input.operation == "UPDATE"
	input.facts.routeUses[0]
	msg := sprintf("the update removes a port that %s still name; keep the port, or move those references to another port first", [users])
}

findings contains lib.error("MESH0608", "reference", field, msg) if {
	input.kind == "Gateway"
	input.facts.routeUses[0]
	field := changed_field("spec.listeners")
	msg := sprintf("%s would no longer be bound to this Gateway (its listener gone, or not admitting them); keep the listener, or move those parentRefs first", [users])
}

# A set, so the uses come sorted.
users := concat(", ", {sprintf("%s (%s)", [u.route, u.field]) | some u in input.facts.routeUses})

changed_field(f) := "metadata.name" if input.operation == "DELETE"

else := f
