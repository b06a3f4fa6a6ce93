package mesh.backendweights_test

import data.mesh.backendweights
import data.mesh.test_inputs as inputs

# rule builds one input.facts.backendRules entry: the weights of a rule's
# backendRefs, 1 where none is written.
rule(weights) := {"field": "spec.rules[0].backendRefs", "weights": weights, "written": true}

route_input(weights) := rules_input([rule(weights)])

rules_input(rules) := inputs.create("HTTPRoute", {"backendRules": rules})

findings(weights) := fs if {
	fs := backendweights.findings with input as route_input(weights)
}

test_relative_weights_warn if {
	fs := findings([90, 20])
	count(fs) == 1
	some f in fs
	f.code == "MESH0809"
	f.severity == "warning"
	f.field == "spec.rules[0].backendRefs"
	f.message == "the weights of the 2 backendRefs add up to 110, not 100 (90/20); they are relative, so each backendRef gets its weight's share of the sum, but make them add up to 100 if percentages were meant"
}

test_weights_of_hundred_pass if {
	count(findings([90, 10])) == 0
	count(findings([100, 0])) == 0
}

test_one_backend_with_weight_passes if {
	count(findings([1, 0])) == 0
	count(findings([0, 30, 0])) == 0
}

test_single_backend_weight_passes if {
	count(findings([50])) == 0
}

test_unwritten_weights_pass if {
	fs := backendweights.findings with input as rules_input([{"field": "spec.rules[0].backendRefs", "weights": [1, 1], "written": false}])
	count(fs) == 0
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

test_zero_total_is_not_also_relative if {
	{f.code | some f in findings([0, 0])} == {"MESH0808"}
}
