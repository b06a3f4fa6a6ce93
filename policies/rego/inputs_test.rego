package mesh.test_inputs

# Shared by the policies' tests: builds whole inputs from the few values a
# test is about, with every other key as policies/term.go sends it
# (TestInputContract in policies/contract_test.go holds the two equal).

# review is the input of a review of kind under operation, with the partial
# facts f completed.
review(kind, operation, f) := {
	"kind": kind,
	"operation": operation,
	"settings": {"clusterDomain": "cluster.local", "rootNamespace": "istio-system"},
	"facts": facts(f),
}

create(kind, f) := review(kind, "CREATE", f)

# codes is the set of codes among findings.
codes(fs) := {f.code | some f in fs}

facts(f) := object.union(defaults(f), f)

defaults(f) := {
	"namespace": "default",
	"malformed": [],
	"missing": [],
	"destinations": [],
	"routes": [],
	"hosts": {},
	"gateways": [],
	"exportTo": [],
	"byHost": by_host(object.get(f, "destinations", [])),
	"meshBound": true,
	"listenerPorts": [],
	"reach": [],
	"subsetNames": [],
	"oldSubsetNames": [],
	"usedBy": [],
	"backendRefs": [],
	"parentRefs": [],
	"backendRules": [],
	"routeUses": [],
}

# by_host indexes destinations by host, as the Go side's byHost.
by_host(dests) := {h: [i | some i, d in dests; d.host == h] | some d in dests; h := d.host}

test_by_host if {
	by_host([{"host": "a"}, {"host": "b"}, {"host": "a"}]) == {"a": [0, 2], "b": [1]}
}

# destination is one entry of facts.destinations: a route destination to
# reviews without subset, port or weight, changed by overrides.
destination(overrides) := object.union(
	{
		"field": "spec.http[0].route[0].destination",
		"host": "reviews",
		"subset": "",
		"port": null,
		"portKey": "",
		"weight": null,
		"mirror": false,
		"dropped": false,
	},
	overrides,
)

# host is one value of facts.hosts: a host that resolves to nothing,
# changed by overrides.
host(fqdn, overrides) := object.union(
	{
		"fqdn": fqdn,
		"wildcard": contains(fqdn, "*"),
		"resolved": false,
		"kind": "",
		"name": "",
		"ports": [],
		"portSet": {},
		"hiddenBy": [],
		"candidates": [],
		"workloadsKnown": false,
		"otherDestinationRules": [],
	},
	overrides,
)

test_review if {
	r := create("VirtualService", {"namespace": "team"})
	r.operation == "CREATE"
	r.facts.namespace == "team"
	r.facts.routes == []
	codes([{"code": "A"}, {"code": "B"}, {"code": "A"}]) == {"A", "B"}
}

test_destination_and_host if {
	destination({"subset": "v2"}).subset == "v2"
	destination({}).host == "reviews"
	host("*.wiki.org", {}).wildcard
	host("a.b", {"resolved": true}).resolved
}
