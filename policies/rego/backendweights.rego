# Weights of a Gateway API rule's backendRefs. The specification makes
# them relative (a sum other than 100 is fine); a negative weight is
# refused by the CRD schema, and weights adding up to 0 make pilot answer
# every call with 500. input.facts.backendRules has each rule's weights,
# 1 where none is written.

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
