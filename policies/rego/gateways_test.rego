package mesh.gateways_test

import data.mesh.gateways
import data.mesh.test_inputs as inputs

# Input constructors, shaped as policies/term.go builds the input.

# gateway is a Gateway the VirtualService (in namespace team) names as ref
# in field, resolved to key (namespace/name).
gateway(ref, field, key) := {
	"ref": ref,
	"field": field,
	"key": key,
	"namespace": split(key, "/")[0],
	"name": split(key, "/")[1],
	"exists": false,
	"visible": false,
	"servedHosts": [],
	"unservedHosts": [],
	"serverHosts": [],
}

# missing is what the Go side gives for a Gateway that does not exist.
missing(ref, key) := gateway(ref, "spec.gateways[0]", key)

# existing is a Gateway that exists, with the VirtualService's hosts split
# into those its servers take and those they do not.
existing(key, served, unserved, server_hosts) := object.union(gateway(key, "spec.gateways[0]", key), {
	"exists": true,
	"visible": true,
	"servedHosts": served,
	"unservedHosts": unserved,
	"serverHosts": server_hosts,
})

hidden(g) := object.union(g, {"visible": false})

input_of(kind, gws, export_to) := inputs.create(kind, {"namespace": "team", "gateways": gws, "exportTo": export_to, "meshBound": false})

vs_input(gws) := input_of("VirtualService", gws, [])

ingress := "istio-system/ingress"

codes(fs) := inputs.codes(fs)

test_constructors if {
	g := missing("bookinfo-gateway", "team/bookinfo-gateway")
	g.namespace == "team"
	g.name == "bookinfo-gateway"
	existing(ingress, ["a.example.com"], [], ["*"]).exists == true
}

test_no_gateways_is_fine if {
	fs := gateways.findings with input as vs_input([])
	count(fs) == 0
}

test_gateway_serving_every_host_is_fine if {
	fs := gateways.findings with input as vs_input([existing(ingress, ["a.example.com", "b.example.com"], [], ["*.example.com"])])
	count(fs) == 0
}

# MESH0501

test_missing_gateway_in_own_namespace if {
	fs := gateways.findings with input as vs_input([missing("bookinfo-gateway", "team/bookinfo-gateway")])
	count(fs) == 1
	some f in fs
	f.code == "MESH0501"
	f.severity == "error"
	f.category == "gateway"
	f.field == "spec.gateways[0]"
	startswith(f.message, "Gateway team/bookinfo-gateway does not exist (a name without a namespace means namespace team); create it or fix the name")
}

test_missing_gateway_with_namespace if {
	fs := gateways.findings with input as vs_input([missing(ingress, ingress)])
	count(fs) == 1
	some f in fs
	f.code == "MESH0501"
	startswith(f.message, "Gateway istio-system/ingress does not exist; create it or fix the name")
	not contains(f.message, "a name without a namespace")
}

test_missing_gateway_in_match if {
	g := gateway("other", "spec.http[1].match[0].gateways[0]", "team/other")
	fs := gateways.findings with input as vs_input([existing(ingress, ["a.example.com"], [], ["*"]), g])
	count(fs) == 1
	some f in fs
	f.code == "MESH0501"
	f.field == "spec.http[1].match[0].gateways[0]"
}

# A Gateway that does not exist hides nothing: no exportTo finding for it.
test_missing_gateway_is_not_also_hidden if {
	fs := gateways.findings with input as input_of("VirtualService", [missing(ingress, ingress)], ["."])
	codes(fs) == {"MESH0501"}
}

# MESH0502

test_no_host_served if {
	g := existing(ingress, [], ["shop.example.com"], ["bookinfo.example.com", "*.bookinfo.io"])
	fs := gateways.findings with input as vs_input([g])
	count(fs) == 1
	some f in fs
	f.code == "MESH0502"
	f.severity == "error"
	f.category == "gateway"
	f.field == "spec.gateways[0]"
	startswith(f.message, "no host of this VirtualService (shop.example.com) is served by Gateway istio-system/ingress (server hosts bookinfo.example.com, *.bookinfo.io), so the gateway ignores it")
}

test_no_host_served_by_gateway_without_servers if {
	fs := gateways.findings with input as vs_input([existing(ingress, [], ["a.example.com", "b.example.com"], [])])
	some f in fs
	f.code == "MESH0502"
	contains(f.message, "(a.example.com, b.example.com) is served by Gateway istio-system/ingress (server hosts none)")
}

# MESH0503

test_one_host_not_served if {
	g := existing(ingress, ["a.example.com"], ["b.example.com"], ["a.example.com"])
	fs := gateways.findings with input as vs_input([g])
	count(fs) == 1
	some f in fs
	f.code == "MESH0503"
	f.severity == "warning"
	f.category == "gateway"
	f.field == "spec.gateways[0]"
	f.message == "host \"b.example.com\" is not served by Gateway istio-system/ingress (server hosts a.example.com) nor by any other gateway this VirtualService binds to, so it is unreachable"
}

test_host_served_by_mesh if {
	g := existing(ingress, ["shop.example.com"], ["reviews"], ["shop.example.com"])
	inp := object.union(vs_input([g]), {"facts": {"meshBound": true}})
	count(gateways.findings) == 0 with input as inp
}

test_host_served_by_another_gateway if {
	a := existing(ingress, ["a.example.com"], ["b.example.com"], ["a.example.com"])
	b := object.union(existing("istio-system/other", ["b.example.com"], ["a.example.com"], ["b.example.com"]), {"field": "spec.gateways[1]"})
	count(gateways.findings) == 0 with input as vs_input([a, b])
}

test_each_unserved_host if {
	g := existing(ingress, ["a.example.com"], ["b.example.com", "c.example.com"], ["a.example.com"])
	fs := gateways.findings with input as vs_input([g])
	codes(fs) == {"MESH0503"}
	count(fs) == 2
	some f in fs
	contains(f.message, "host \"c.example.com\" is not served")
}

# MESH0504

test_hidden_by_export_to if {
	g := hidden(existing(ingress, ["a.example.com"], [], ["*"]))
	fs := gateways.findings with input as input_of("VirtualService", [g], ["."])
	count(fs) == 1
	some f in fs
	f.code == "MESH0504"
	f.severity == "error"
	f.category == "gateway"
	f.field == "spec.exportTo"
	f.message == "exportTo [.] hides this VirtualService from namespace istio-system, where Gateway istio-system/ingress is, so the gateway ignores it; add \"istio-system\" to exportTo"
}

test_hidden_lists_every_export if {
	g := hidden(existing(ingress, ["a.example.com"], [], ["*"]))
	fs := gateways.findings with input as input_of("VirtualService", [g], [".", "prod"])
	some f in fs
	startswith(f.message, "exportTo [., prod] hides")
}

test_other_kinds_are_ignored if {
	gws := [missing("gw", "team/gw"), hidden(existing(ingress, ["a.example.com"], ["b.example.com"], ["a.example.com"])), existing("team/web", [], ["c.example.com"], [])]
	codes(gateways.findings) == {"MESH0501", "MESH0502", "MESH0503", "MESH0504"} with input as vs_input(gws)
	every kind in ["DestinationRule", "Gateway", "ServiceEntry"] {
		count(gateways.findings) == 0 with input as input_of(kind, gws, [])
	}
}
