package mesh.weights_test

import data.mesh.test_inputs as inputs
import data.mesh.weights

# Input constructors. They build the document policies/term.go builds: a
# destination's weight is null when none is written, and the route's
# weights then carry 0; targets are host|subset|port.

dest(host, subset, weight) := inputs.destination({"host": host, "subset": subset, "weight": weight})

dest_port(host, subset, port, weight) := object.union(dest(host, subset, weight), {"port": port, "portKey": sprintf("%d", [port])})

route(field, ds) := {
	"field": field,
	"destinations": [object.union(d, {"field": sprintf("%s[%d].destination", [field, j])}) | some j, d in ds],
	"weights": [weight_or_zero(d.weight) | some d in ds],
	"targets": [concat("|", [d.host, d.subset, d.portKey]) | some d in ds],
}

weight_or_zero(w) := w if w != null

else := 0

http_route(ds) := route("spec.http[0].route", ds)

input_of(kind, routes) := inputs.create(kind, {
	"destinations": [d | some r in routes; some d in r.destinations],
	"routes": routes,
})

vs_input(routes) := input_of("VirtualService", routes)

findings_for(routes) := fs if {
	fs := weights.findings with input as vs_input(routes)
}

with_code(fs, code) := {f | some f in fs; f.code == code}

codes(fs) := inputs.codes(fs)

# The constructors themselves, so the tests below build what they mean to.
test_constructors if {
	r := http_route([dest("reviews", "v1", 90), dest_port("reviews", "", 9080, null)])
	r.weights == [90, 0]
	r.targets == ["reviews|v1|", "reviews||9080"]
	r.destinations[1].field == "spec.http[0].route[1].destination"
	r.destinations[1].port == 9080
	r.destinations[1].weight == null
}

# A good split reports nothing.
test_split_adding_up_to_100_is_fine if {
	fs := findings_for([http_route([dest("reviews", "v1", 90), dest("reviews", "v2", 10)])])
	count(fs) == 0
}

test_three_way_split_is_fine if {
	fs := findings_for([http_route([dest("reviews", "v1", 50), dest("reviews", "v2", 30), dest("reviews", "v3", 20)])])
	count(fs) == 0
}

test_single_destination_without_weight_is_fine if {
	fs := findings_for([http_route([dest("reviews", "v1", null)])])
	count(fs) == 0
}

test_single_destination_weight_100_is_fine if {
	fs := findings_for([http_route([dest("reviews", "v1", 100)])])
	count(fs) == 0
}

# MESH0101

test_negative_weight if {
	fs := findings_for([http_route([dest("reviews", "v1", 110), dest("reviews", "v2", -10)])])
	codes(fs) == {"MESH0101"}
	some f in fs
	f.code == "MESH0101"
	f.severity == "error"
	f.category == "weight"
	f.field == "spec.http[0].route[1].weight"
	contains(f.message, "weight -10 is negative")
}

# Every negative weight is reported, and a weight of 0 is not negative.
test_every_negative_weight_is_reported if {
	fs := findings_for([http_route([dest("reviews", "v1", -1), dest("reviews", "v2", -2), dest("reviews", "v3", 0), dest("reviews", "v4", 103)])])
	{f.field | some f in with_code(fs, "MESH0101")} == {"spec.http[0].route[0].weight", "spec.http[0].route[1].weight"}
}

# Negative weights that cancel out are reported as negative, not as a
# zero total.
test_negative_weights_summing_to_zero if {
	fs := findings_for([http_route([dest("reviews", "v1", 5), dest("reviews", "v2", -5)])])
	codes(fs) == {"MESH0101"}
}

# MESH0102

test_zero_total if {
	fs := findings_for([http_route([dest("reviews", "v1", 0), dest("reviews", "v2", 0)])])
	codes(fs) == {"MESH0102"}
	some f in fs
	f.severity == "error"
	f.field == "spec.http[0].route"
	contains(f.message, "the weights of the 2 destinations add up to 0")
}

test_zero_total_when_no_weights_written if {
	fs := findings_for([http_route([dest("reviews", "v1", null), dest("reviews", "v2", null), dest("reviews", "v3", null)])])
	some f in with_code(fs, "MESH0102")
	contains(f.message, "the weights of the 3 destinations add up to 0")
}

# One destination gets all traffic whatever its weight: no zero total.
test_zero_weight_single_destination_is_no_zero_total if {
	fs := findings_for([http_route([dest("reviews", "v1", 0)])])
	not "MESH0102" in codes(fs)
	"MESH0105" in codes(fs)
}

# MESH0103

test_int32_overflow if {
	fs := findings_for([http_route([dest("reviews", "v1", 2147483647), dest("reviews", "v2", 1)])])
	codes(fs) == {"MESH0103"}
	some f in fs
	f.severity == "error"
	f.field == "spec.http[0].route"
	contains(f.message, "add up to 2147483648, more than the largest 32-bit integer (2147483647)")
}

# The largest int32 itself still fits, so it is merely not 100.
test_int32_max_is_no_overflow if {
	fs := findings_for([http_route([dest("reviews", "v1", 2147483646), dest("reviews", "v2", 1)])])
	codes(fs) == {"MESH0104"}
}

test_single_destination_overflow if {
	fs := findings_for([http_route([dest("reviews", "v1", 3000000000)])])
	codes(fs) == {"MESH0103", "MESH0105"}
}

# MESH0104

test_weights_not_100 if {
	fs := findings_for([http_route([dest("reviews", "v1", 90), dest("reviews", "v2", 20)])])
	count(fs) == 1
	some f in fs
	f.code == "MESH0104"
	f.severity == "error"
	f.category == "weight"
	f.field == "spec.http[0].route"
	contains(f.message, "the weights of the 2 destinations add up to 110, not 100 (90/20)")
}

test_weights_under_100 if {
	fs := findings_for([http_route([dest("reviews", "v1", 40), dest("reviews", "v2", 0), dest("reviews", "v3", 40)])])
	some f in with_code(fs, "MESH0104")
	contains(f.message, "add up to 80, not 100 (40/0/40)")
}

# Negative weights that add up to 100 are negative, not "not 100".
test_negative_weight_is_not_also_not_100 if {
	fs := findings_for([http_route([dest("reviews", "v1", 120), dest("reviews", "v2", -30)])])
	codes(fs) == {"MESH0101"}
}

test_routes_are_checked_separately if {
	fs := findings_for([
		http_route([dest("reviews", "v1", 90), dest("reviews", "v2", 10)]),
		route("spec.tcp[1].route", [dest("db", "", 70), dest("db-replica", "", 20)]),
	])
	count(fs) == 1
	some f in fs
	f.code == "MESH0104"
	f.field == "spec.tcp[1].route"
	contains(f.message, "(70/20)")
}

# MESH0105

test_single_destination_weight if {
	fs := findings_for([http_route([dest("reviews", "v1", 50)])])
	count(fs) == 1
	some f in fs
	f.code == "MESH0105"
	f.severity == "warning"
	f.category == "weight"
	f.field == "spec.http[0].route[0].weight"
	contains(f.message, "the only destination has weight 50")
}

# MESH0106

test_duplicate_destination if {
	fs := findings_for([http_route([dest("reviews", "v1", 50), dest("reviews", "v1", 50)])])
	count(fs) == 1
	some f in fs
	f.code == "MESH0106"
	f.severity == "warning"
	f.field == "spec.http[0].route[1].destination"
	contains(f.message, "destination 1 repeats destination 0 (host reviews, subset v1)")
}

test_duplicate_destination_without_subset if {
	fs := findings_for([http_route([dest("reviews", "", 30), dest("ratings", "", 40), dest("reviews", "", 30)])])
	codes(fs) == {"MESH0106"}
	some f in fs
	f.field == "spec.http[0].route[2].destination"
	contains(f.message, "destination 2 repeats destination 0 (host reviews);")
}

test_same_host_other_subset_is_no_duplicate if {
	fs := findings_for([http_route([dest("reviews", "v1", 50), dest("reviews", "v2", 50)])])
	count(fs) == 0
}

test_same_host_and_subset_other_port_is_no_duplicate if {
	fs := findings_for([http_route([dest_port("web", "v1", 80, 50), dest_port("web", "v1", 443, 50)])])
	count(fs) == 0
}

test_same_host_subset_and_port_is_duplicate if {
	fs := findings_for([http_route([dest_port("web", "v1", 80, 50), dest_port("web", "v1", 80, 50)])])
	codes(fs) == {"MESH0106"}
}

# Only VirtualServices have routes; the rules ignore other kinds.
test_other_kinds_are_ignored if {
	bad := [http_route([dest("reviews", "v1", -10), dest("reviews", "v1", 20)]), route("spec.tcp[0].route", [dest("db", "", 50)])]
	count(weights.findings) > 0 with input as vs_input(bad)
	every kind in ["DestinationRule", "Gateway", "ServiceEntry"] {
		count(weights.findings) == 0 with input as input_of(kind, bad)
	}
}
