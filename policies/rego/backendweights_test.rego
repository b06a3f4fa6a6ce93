package mesh.backendweights_test

import data.mesh.backendweights
import data.mesh.test_inputs as inputs

# rule builds one input.facts.backendRules entry: the weights of a rule's
# backendRefs, 1 where none is written.
rule(weights) := {"field": "spec.rules[0].backendRefs", "weights": weights}

route_input(weights) := {
	"kind": "HTTPRoute",
	"operation": "CREATE",
	"settings": {"clusterDomain": "cluster.local", "rootNamespace": "istio-system"},
	"facts": inputs.facts({"backendRules": [rule(weights)]}),
}

findings(weights) := fs if {
	fs := backendweights.findings with input as route_input(weights)
}

test_relative_weights_pass if {
	count(findings([90, 20])) == 0
}

test_negative_weight if {
	some f in findings([110, -10])
	f.code == "MESH0807"
	f.field == "spec.rules[0].backendRefs[1].weight"
}

test_zero_total if {
	some f in findings([0, 0])
	f.code == "MESH0808"
	f.field == "spec.rules[0].backendRefs"
	contains(f.message, "the weights of the 2 backendRefs add up to 0")
}

test_negative_is_not_also_zero_total if {
	{f.code | some f in findings([1, -1])} == {"MESH0807"}
}
