package mesh.parentrefs_test

import data.mesh.parentrefs
import data.mesh.test_inputs as inputs

# parent builds one input.facts.parentRefs entry as policies/term.go does:
# a Gateway API Gateway that exists and admits the route.
parent(overrides) := object.union(
	{
		"field": "spec.parentRefs[0]",
		"kind": "Gateway",
		"namespace": "default",
		"name": "web",
		"sectionName": "",
		"port": null,
		"hasPort": false,
		"supported": true,
		"exists": true,
		"visible": true,
		"listenerFound": true,
		"admitted": true,
	},
	overrides,
)

route_input(refs) := inputs.create("HTTPRoute", {"parentRefs": refs})

findings(refs) := fs if {
	fs := parentrefs.findings with input as route_input(refs)
}

test_bound_parent_passes if {
	count(findings([parent({})])) == 0
}

test_unsupported_parent_is_not_judged if {
	count(findings([parent({"kind": "ListenerSet", "supported": false, "exists": false, "listenerFound": false, "admitted": false})])) == 0
}

test_missing_gateway if {
	some f in findings([parent({"exists": false, "listenerFound": false, "admitted": false})])
	f.code == "MESH0804"
	f.field == "spec.parentRefs[0]"
	contains(f.message, "Gateway default/web does not exist")
}

test_missing_listener if {
	some f in findings([parent({"sectionName": "https", "listenerFound": false, "admitted": false})])
	f.code == "MESH0805"
	contains(f.message, `has no listener "https",`)
}

test_missing_listener_port if {
	some f in findings([parent({"sectionName": "http", "port": 8443, "hasPort": true, "listenerFound": false, "admitted": false})])
	contains(f.message, `has no listener "http" on port 8443`)
}

test_missing_service_port if {
	some f in findings([parent({"kind": "Service", "name": "reviews", "port": 8080, "hasPort": true, "listenerFound": false, "admitted": false})])
	f.code == "MESH0805"
	contains(f.message, "Service default/reviews has no port 8080 carrying HTTP")
}

test_service_without_http_port if {
	some f in findings([parent({"kind": "Service", "name": "db", "listenerFound": false, "admitted": false})])
	f.code == "MESH0805"
	contains(f.message, "Service default/db has no port carrying HTTP")
}

test_not_admitted if {
	some f in findings([parent({"admitted": false})])
	f.code == "MESH0806"
	contains(f.message, "admits HTTPRoutes of namespace default")
}

test_hidden_service_parent if {
	fs := findings([parent({"kind": "Service", "name": "fraud", "visible": false})])
	count(fs) == 1
	some f in fs
	f.code == "MESH0804"
	contains(f.message, "Service default/fraud is not exported to namespace default")
}
