package mesh.hosts_test

import data.mesh.hosts
import data.mesh.test_inputs as inputs

# Input constructors, shaped as policies/term.go builds the input.

dest(field, host) := inputs.destination({"field": field, "host": host})

# unknown_host is a host that resolves to nothing.
unknown_host(fqdn) := inputs.host(fqdn, {})

service_host(fqdn, name) := object.union(unknown_host(fqdn), {
	"resolved": true,
	"kind": "Service",
	"name": name,
	"ports": [{"name": "http", "number": 9080, "protocol": "HTTP"}],
	"portSet": {"9080": true},
	"workloadsKnown": true,
})

facts(ns, destinations, host_facts) := inputs.facts({
	"namespace": ns,
	"destinations": destinations,
	"hosts": host_facts,
})

input_of(kind, f) := inputs.create(kind, f)

route0 := "spec.http[0].route[0].destination"

# vs_input routes to one host, described by host_facts.
vs_input(host, host_facts) := input_of("VirtualService", facts("team", [dest(route0, host)], {host: host_facts}))

# dr_input is a DestinationRule for host; the Go side gives no destinations.
dr_input(host, host_facts) := input_of("DestinationRule", facts("team", [], {host: host_facts}))

codes(fs) := inputs.codes(fs)

# MESH0201

test_resolved_host_is_fine if {
	fs := hosts.findings with input as vs_input("reviews", service_host("reviews.team.svc.cluster.local", "team/reviews"))
	count(fs) == 0
}

test_unknown_host if {
	fs := hosts.findings with input as vs_input("ratings", unknown_host("ratings.team.svc.cluster.local"))
	count(fs) == 1
	some f in fs
	f.code == "MESH0201"
	f.severity == "error"
	f.category == "host"
	f.field == "spec.http[0].route[0].destination.host"
	f.message == "host \"ratings\" (ratings.team.svc.cluster.local) is no Service or ServiceEntry visible from namespace team; create the Service or a ServiceEntry for it, or correct the host"
}

# A host written in full is not expanded again in the message.
test_unknown_fqdn_is_not_repeated if {
	fs := hosts.findings with input as vs_input("api.example.com", unknown_host("api.example.com"))
	some f in fs
	f.code == "MESH0201"
	startswith(f.message, "host \"api.example.com\" is no Service")
	endswith(f.message, "create the Service or a ServiceEntry for it, or correct the host")
}

test_unknown_host_hidden_by_export_to if {
	h := object.union(unknown_host("reviews.default.svc.cluster.local"), {"hiddenBy": ["Service default/reviews (networking.istio.io/exportTo: .)"]})
	fs := hosts.findings with input as vs_input("reviews.default.svc.cluster.local", h)
	some f in fs
	f.code == "MESH0201"
	contains(f.message, "; it exists as Service default/reviews (networking.istio.io/exportTo: .), which is not exported to namespace team")
}

test_unknown_host_hidden_twice if {
	h := object.union(unknown_host("api.example.com"), {
		"hiddenBy": ["ServiceEntry a/api (exportTo: .)", "ServiceEntry b/api (exportTo: b)"],
		"candidates": ["api.other.svc.cluster.local"],
	})
	fs := hosts.findings with input as vs_input("api.example.com", h)
	some f in fs
	contains(f.message, "it exists as ServiceEntry a/api (exportTo: .) and ServiceEntry b/api (exportTo: b), which")

	# hiddenBy explains more than a guess does
	not contains(f.message, "did you mean")
}

test_unknown_host_candidates if {
	h := object.union(unknown_host("reviews.team.svc.cluster.local"), {"candidates": ["reviews.default.svc.cluster.local", "reviews.prod.svc.cluster.local"]})
	fs := hosts.findings with input as vs_input("reviews", h)
	some f in fs
	f.code == "MESH0201"
	endswith(f.message, "; did you mean reviews.default.svc.cluster.local or reviews.prod.svc.cluster.local?")
}

# reviews.default is taken literally, not as a Service in namespace default.
test_unknown_dotted_name_hint if {
	fs := hosts.findings with input as vs_input("reviews.default", unknown_host("reviews.default"))
	some f in fs
	f.code == "MESH0201"
	startswith(f.message, "host \"reviews.default\" is no Service")
	endswith(f.message, "; a name with a dot is taken literally, so write the full name.namespace.svc.<cluster domain>")
}

# A candidate beats the dotted-name hint.
test_dotted_name_with_candidate if {
	h := object.union(unknown_host("reviews.default"), {"candidates": ["reviews.default.svc.cluster.local"]})
	fs := hosts.findings with input as vs_input("reviews.default", h)
	some f in fs
	endswith(f.message, "did you mean reviews.default.svc.cluster.local?")
}

test_unknown_mirror_host if {
	inp := input_of("VirtualService", facts(
		"team",
		[dest(route0, "reviews"), object.union(dest("spec.http[0].mirror", "shadow"), {"mirror": true})],
		{
			"reviews": service_host("reviews.team.svc.cluster.local", "team/reviews"),
			"shadow": unknown_host("shadow.team.svc.cluster.local"),
		},
	))
	fs := hosts.findings with input as inp
	count(fs) == 1
	some f in fs
	f.field == "spec.http[0].mirror.host"
	contains(f.message, "host \"shadow\" (shadow.team.svc.cluster.local)")
}

test_each_destination_of_an_unknown_host if {
	inp := input_of("VirtualService", facts(
		"team",
		[dest(route0, "ratings"), dest("spec.http[1].route[0].destination", "ratings")],
		{"ratings": unknown_host("ratings.team.svc.cluster.local")},
	))
	fs := hosts.findings with input as inp
	{f.field | some f in fs} == {"spec.http[0].route[0].destination.host", "spec.http[1].route[0].destination.host"}
}

test_dropped_destination_of_an_unknown_host if {
	inp := input_of("VirtualService", facts(
		"team",
		[dest(route0, "reviews"), object.union(dest("spec.http[0].route[1].destination", "ratings"), {"dropped": true})],
		{"reviews": service_host("reviews.team.svc.cluster.local", "team/reviews"), "ratings": unknown_host("ratings.team.svc.cluster.local")},
	))
	count(hosts.findings) == 0 with input as inp
}

# reached is a VirtualService of team routing to secret, which namespace
# ns (empty: any other) does not see.
reached(ns, hidden_by) := input_of("VirtualService", object.union(
	facts("team", [dest(route0, "secret")], {"secret": service_host("secret.team.svc.cluster.local", "team/secret")}),
	{"reach": [{"namespace": ns, "hosts": {"secret": object.union(unknown_host("secret.team.svc.cluster.local"), {"hiddenBy": hidden_by})}}]},
))

test_destination_hidden_from_a_namespace_it_is_exported_to if {
	fs := hosts.findings with input as reached("shop", ["Service team/secret (networking.istio.io/exportTo: .)"])
	count(fs) == 1
	some f in fs
	f.code == "MESH0201"
	f.field == "spec.http[0].route[0].destination.host"
	f.message == "host \"secret\" (secret.team.svc.cluster.local) is not visible from namespace shop, which this VirtualService is exported to, so calls from there fail; it exists as Service team/secret (networking.istio.io/exportTo: .); export it there too, or narrow this VirtualService's exportTo"
}

test_destination_hidden_from_any_other_namespace if {
	some f in hosts.findings with input as reached("", [])
	contains(f.message, "is not visible from any other namespace (it is exported to all), which this VirtualService is exported to, so calls from there fail; narrow this VirtualService's exportTo")
}

# MESH0202

test_destination_rule_for_known_host_is_fine if {
	fs := hosts.findings with input as dr_input("reviews", service_host("reviews.team.svc.cluster.local", "team/reviews"))
	count(fs) == 0
}

test_destination_rule_for_unknown_host if {
	fs := hosts.findings with input as dr_input("reveiws", unknown_host("reveiws.team.svc.cluster.local"))
	count(fs) == 1
	some f in fs
	f.code == "MESH0202"
	f.severity == "warning"
	f.category == "host"
	f.field == "spec.host"
	f.message == "host \"reveiws\" (reveiws.team.svc.cluster.local) is no Service or ServiceEntry visible from namespace team, so this DestinationRule applies to nothing; create the Service or a ServiceEntry for it, or correct the host"
}

test_destination_rule_for_hidden_host if {
	h := object.union(unknown_host("reviews.default.svc.cluster.local"), {"hiddenBy": ["Service default/reviews (networking.istio.io/exportTo: .)"]})
	fs := hosts.findings with input as dr_input("reviews.default.svc.cluster.local", h)
	some f in fs
	f.code == "MESH0202"
	contains(f.message, "applies to nothing; it exists as Service default/reviews")
}

# A wildcard host is meant to match many hosts, so it is not checked.
test_destination_rule_for_wildcard_host_is_fine if {
	fs := hosts.findings with input as dr_input("*.example.com", unknown_host("*.example.com"))
	count(fs) == 0
}

# Each rule looks at its own kind only.
test_kinds if {
	host := unknown_host("ratings.team.svc.cluster.local")
	codes(hosts.findings) == {"MESH0201"} with input as vs_input("ratings", host)
	codes(hosts.findings) == {"MESH0202"} with input as dr_input("ratings", host)
	count(hosts.findings) == 0 with input as object.union(vs_input("ratings", host), {"kind": "ServiceEntry"})
	count(hosts.findings) == 0 with input as object.union(vs_input("ratings", host), {"kind": "Gateway"})
}
