package mesh.backendrefs_test

import data.mesh.backendrefs
import data.mesh.test_inputs as inputs

# backend builds one input.facts.backendRefs entry as policies/term.go
# does: a Service of the route's namespace that exists with the port.
backend(overrides) := object.union(
	{
		"field": "spec.rules[0].backendRefs[0]",
		"kind": "Service",
		"namespace": "default",
		"name": "reviews",
		"port": 9080,
		"weight": 1,
		"dropped": false,
		"supported": true,
		"crossNamespace": false,
		"permitted": true,
		"exists": true,
		"portExists": true,
		"visible": true,
	},
	overrides,
)

route_input(refs) := inputs.create("HTTPRoute", {"backendRefs": refs})

codes(refs) := {f.code | some f in backendrefs.findings with input as route_input(refs)}

test_existing_backend_passes if {
	codes([backend({})]) == set()
}

test_missing_service if {
	some f in backendrefs.findings with input as route_input([backend({"exists": false, "portExists": false})])
	f.code == "MESH0801"
	f.field == "spec.rules[0].backendRefs[0]"
	contains(f.message, "Service default/reviews does not exist")
}

test_missing_hostname if {
	some f in backendrefs.findings with input as route_input([backend({"kind": "Hostname", "name": "api.example.com", "exists": false})])
	f.code == "MESH0801"
	contains(f.message, "Hostname api.example.com does not exist")
}

test_unsupported_kind if {
	some f in backendrefs.findings with input as route_input([backend({"kind": "ServiceEntry", "supported": false, "exists": false})])
	f.code == "MESH0801"
	contains(f.message, "is not one Istio routes to")
}

test_dropped_backend_cannot_fail if {
	codes([backend({"dropped": true, "exists": false})]) == set()
}

test_missing_port if {
	some f in backendrefs.findings with input as route_input([backend({"portExists": false, "port": 8080})])
	f.code == "MESH0802"
	f.field == "spec.rules[0].backendRefs[0].port"
}

test_cross_namespace_without_grant if {
	refs := [backend({"namespace": "team", "crossNamespace": true, "permitted": false})]
	codes(refs) == {"MESH0803"}
}

test_cross_namespace_with_grant if {
	codes([backend({"namespace": "team", "crossNamespace": true})]) == set()
}

test_hidden_service if {
	fs := backendrefs.findings with input as route_input([backend({"visible": false})])
	count(fs) == 1
	some f in fs
	f.code == "MESH0801"
	contains(f.message, "is not exported to namespace")
}
