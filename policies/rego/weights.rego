# Weights of the destinations of one route. Istio treats weights as
# relative, but a split that does not add up to 100 is almost always a
# typo (90/20), so by default it is an error; the config file can make
# MESH0104 a warning or turn it off. Each route in input.facts.routes has
# its weights (0 where none is written) and targets (host|subset|port).

# METADATA
# title: Weights
# custom:
#   kinds: [VirtualService]
package mesh.weights

import data.mesh.lib

max_int32 := 2147483647

findings contains lib.error("MESH0101", "weight", sprintf("%s[%d].weight", [route.field, j]), msg) if {
	input.kind == "VirtualService"
	some route in input.facts.routes
	min(route.weights) < 0
	some j, w in route.weights
	w < 0
	msg := sprintf("weight %v is negative; use a weight between 0 and 100", [w])
}

findings contains lib.error("MESH0102", "weight", route.field, msg) if {
	input.kind == "VirtualService"
	some route in input.facts.routes
	count(route.weights) > 1
	sum(route.weights) == 0
	min(route.weights) >= 0
	msg := sprintf("the weights of the %d destinations add up to 0, so this route sends no traffic anywhere; give the destinations weights that add up to 100", [count(route.weights)])
}

findings contains lib.error("MESH0103", "weight", route.field, msg) if {
	input.kind == "VirtualService"
	some route in input.facts.routes
	total := sum(route.weights)
	total > max_int32
	msg := sprintf("the weights add up to %v, more than the largest 32-bit integer (%d) Istio can store; use weights that add up to 100", [total, max_int32])
}

findings contains lib.error("MESH0104", "weight", route.field, msg) if {
	input.kind == "VirtualService"
	some route in input.facts.routes
	count(route.weights) > 1
	total := sum(route.weights)
	total != 100
	total > 0
	total <= max_int32
	min(route.weights) >= 0
	msg := sprintf("the weights of the %d destinations add up to %v, not 100 (%s); make them add up to 100", [count(route.weights), total, concat("/", [sprintf("%v", [w]) | some w in route.weights])])
}

findings contains lib.warning("MESH0105", "weight", sprintf("%s[0].weight", [route.field]), msg) if {
	input.kind == "VirtualService"
	some route in input.facts.routes
	count(route.destinations) == 1
	w := route.destinations[0].weight
	w != null
	w != 100
	msg := sprintf("the only destination has weight %v; with one destination Istio sends it all traffic, so write 100 or leave the weight out", [w])
}

findings contains lib.warning("MESH0106", "weight", route.destinations[j].field, msg) if {
	input.kind == "VirtualService"
	some route in input.facts.routes
	count(route.targets) != count({t | some t in route.targets})
	some i, a in route.targets
	some j, b in route.targets
	i < j
	a == b
	d := route.destinations[j]
	msg := sprintf("destination %d repeats destination %d (host %s%s); merge them into one destination with the summed weight", [j, i, d.host, subset_suffix(d.subset)])
}

subset_suffix(s) := sprintf(", subset %s", [s]) if s != ""

else := ""
