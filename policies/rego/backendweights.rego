# Weights of a Gateway API rule's backendRefs. The specification makes
# them relative, so written weights that split traffic over several
# backendRefs and do not add up to 100 get a warning at most (MESH0809,
# configurable like any code); weights nobody wrote split evenly, as meant,
# and a single backendRef with weight gets it all. A negative weight is refused
# by the CRD schema, and weights adding up to 0 make pilot answer every
# call with 500. input.facts.backendRules has each rule's weights, 1 where
# none is written, and whether any is written.

# METADATA
# title: Route backend weights
# custom:
#   kinds: [HTTPRoute, GRPCRoute]
#   facts: [backendRules]
package mesh.backendweights

import data.mesh.lib

findings contains lib.error("MESH0807", "route", sprintf("%s[%d].weight", [rule.field, j]), msg) if {
	some rule in input.facts.backendRules
	some j, w in rule.weights
	w < 0
	msg := sprintf("weight %v is negative; use a weight of 0 or more", [w])
}

findings contains lib.error("MESH0808", "route", rule.field, msg) if {
	some rule in input.facts.backendRules
	min(rule.weights) >= 0
	sum(rule.weights) == 0
	msg := sprintf("the weights of the %d backendRefs add up to 0, so every call gets a 500; give at least one a weight above 0", [count(rule.weights)])
}

findings contains lib.warning("MESH0809", "route", rule.field, msg) if {
	some rule in input.facts.backendRules
	rule.written
	min(rule.weights) >= 0
	count([w | some w in rule.weights; w > 0]) > 1
	total := sum(rule.weights)
	total != 100
	msg := sprintf("the weights of the %d backendRefs add up to %v, not 100 (%s); they are relative, so each backendRef gets its weight's share of the sum, but make them add up to 100 if percentages were meant", [count(rule.weights), total, concat("/", [sprintf("%v", [w]) | some w in rule.weights])])
}
