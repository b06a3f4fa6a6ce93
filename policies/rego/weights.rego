# Weights of the destinations of one route. Istio treats weights as
# relative, but a split that does not add up to 100 is almost always a
# typo (90/20), so by default it is an error; the config file can make
# MESH0104 a warning or turn it off.
package mesh.weights

import data.mesh.lib

max_int32 := 2147483647

weight(rd) := rd.weight if is_number(rd.weight)

else := 0

weighted_route contains route if {
	some route in lib.routes
	every rd in route.destinations {
		is_object(rd)
	}
}

findings contains lib.error("MESH0101", "weight", sprintf("%s[%d].weight", [route.field, j]), msg) if {
	some route in weighted_route
	some j, rd in route.destinations
	is_number(rd.weight)
	rd.weight < 0
	msg := sprintf("weight %v is negative; use a weight between 0 and 100", [rd.weight])
}

total(route) := sum([weight(rd) | some rd in route.destinations])

findings contains lib.error("MESH0102", "weight", route.field, msg) if {
	some route in weighted_route
	count(route.destinations) > 1
	total(route) == 0
	not negative(route)
	msg := sprintf("the weights of the %d destinations add up to 0, so this route sends no traffic anywhere; give the destinations weights that add up to 100", [count(route.destinations)])
}

findings contains lib.error("MESH0103", "weight", route.field, msg) if {
	some route in weighted_route
	total(route) > max_int32
	msg := sprintf("the weights add up to %v, more than the largest 32-bit integer (%d) Istio can store; use weights that add up to 100", [total(route), max_int32])
}

findings contains lib.error("MESH0104", "weight", route.field, msg) if {
	some route in weighted_route
	count(route.destinations) > 1
	t := total(route)
	t != 100
	t > 0
	t <= max_int32
	not negative(route)
	msg := sprintf("the weights of the %d destinations add up to %v, not 100 (%s); make them add up to 100", [count(route.destinations), t, split_of(route)])
}

findings contains lib.warning("MESH0105", "weight", sprintf("%s[0].weight", [route.field]), msg) if {
	some route in weighted_route
	count(route.destinations) == 1
	some rd in route.destinations
	is_number(rd.weight)
	rd.weight != 100
	msg := sprintf("the only destination has weight %v; with one destination Istio sends it all traffic, so write 100 or leave the weight out", [rd.weight])
}

findings contains lib.warning("MESH0106", "weight", sprintf("%s[%d].destination", [route.field, j]), msg) if {
	some route in weighted_route
	some i, a in route.destinations
	some j, b in route.destinations
	i < j
	same_target(a.destination, b.destination)
	msg := sprintf("destination %d repeats destination %d (host %v%s); merge them into one destination with the summed weight", [j, i, b.destination.host, subset_suffix(b.destination)])
}

negative(route) if {
	some rd in route.destinations
	weight(rd) < 0
}

same_target(a, b) if {
	a.host == b.host
	object.get(a, "subset", "") == object.get(b, "subset", "")
	object.get(a, ["port", "number"], 0) == object.get(b, ["port", "number"], 0)
}

subset_suffix(d) := sprintf(", subset %v", [d.subset]) if {
	is_string(d.subset)
	d.subset != ""
}

else := ""

split_of(route) := concat("/", [sprintf("%v", [weight(rd)]) | some rd in route.destinations])
