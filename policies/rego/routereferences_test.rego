package mesh.routereferences_test

import data.mesh.routereferences
import data.mesh.test_inputs as inputs

# change builds the input of an UPDATE or DELETE of kind whose routeUses
# are uses: what policies/term.go sends for such a review.
change(kind, operation, uses) := inputs.review(kind, operation, {"routeUses": uses})

use(route, field) := {"route": route, "namespace": split(split(route, " ")[1], "/")[0], "field": field}

backend := use("HTTPRoute team/reviews", "spec.rules[0].backendRefs[0]")

parent := use("GRPCRoute default/api", "spec.parentRefs[1]")

only(fs) := f if {
	count(fs) == 1
	some f in fs
}

test_grant_delete if {
	fs := routereferences.findings with input as change("ReferenceGrant", "DELETE", [backend])
	f := only(fs)
	f.code == "MESH0605"
	f.severity == "error"
	f.category == "reference"
	f.field == "metadata.name"
	f.message == "HTTPRoute team/reviews (spec.rules[0].backendRefs[0]) still refer across namespaces through this ReferenceGrant, and no other one allows it, so pilot would route them nowhere (RefNotPermitted); point them elsewhere or add another ReferenceGrant first"
}

test_grant_update if {
	fs := routereferences.findings with input as change("ReferenceGrant", "UPDATE", [backend])
	f := only(fs)
	f.code == "MESH0605"
	f.field == "spec"
}

test_service_delete_names_every_use_sorted if {
	fs := routereferences.findings with input as change("Service", "DELETE", [backend, parent])
	f := only(fs)
	f.code == "MESH0606"
	f.field == "metadata.name"
	contains(f.message, "of GRPCRoute default/api (spec.parentRefs[1]), HTTPRoute team/reviews (spec.rules[0].backendRefs[0]);")
}

test_service_update if {
	fs := routereferences.findings with input as change("Service", "UPDATE", [backend])
	f := only(fs)
	f.code == "MESH0607"
	f.field == "spec.ports"
}

test_gateway_delete if {
	fs := routereferences.findings with input as change("Gateway", "DELETE", [parent])
	f := only(fs)
	f.code == "MESH0608"
	f.field == "metadata.name"
	startswith(f.message, "GRPCRoute default/api (spec.parentRefs[1]) would no longer be bound to this Gateway")
}

test_gateway_update if {
	fs := routereferences.findings with input as change("Gateway", "UPDATE", [parent])
	f := only(fs)
	f.code == "MESH0608"
	f.field == "spec.listeners"
}

test_nothing_broken_passes if {
	every kind in ["ReferenceGrant", "Service", "Gateway"] {
		every op in ["UPDATE", "DELETE"] {
			fs := routereferences.findings with input as change(kind, op, [])
			count(fs) == 0
		}
	}
}
