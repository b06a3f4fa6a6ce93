package mesh.test_inputs

# Shared by the policies' tests: completes a partial input.facts with
# every key policies/term.go sends, so a test names only what it is about.

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
