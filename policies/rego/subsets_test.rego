package mesh.subsets_test

import data.mesh.subsets
import data.mesh.test_inputs as inputs

# Input constructors, shaped as policies/term.go builds the input.

reviews := "reviews.default.svc.cluster.local"

dest(field, subset) := inputs.destination({"field": field, "subset": subset})

route0 := "spec.http[0].route[0].destination"

# host_facts resolves reviews to a Service; applied_rule is the applied
# DestinationRule (null for none), others those that are not applied.
host_facts(applied_rule, others) := inputs.host(reviews, object.union(
	{
		"resolved": true,
		"kind": "Service",
		"name": "default/reviews",
		"workloadsKnown": true,
		"otherDestinationRules": others,
	},
	{"destinationRule": applied_rule | applied_rule != null},
))

# rule is an applied DestinationRule; subsets are [name, labels, workloads].
rule(names, subset_list) := {
	"names": names,
	"host": "reviews",
	"subsetNames": [s[0] | some s in subset_list],
	"subsets": {s[0]: {"labels": s[1], "definedBy": names[0], "workloads": s[2]} | some s in subset_list},
}

v1 := ["v1", {"version": "v1"}, 2]

v2 := ["v2", {"version": "v2"}, 1]

reviews_rule := rule(["default/reviews"], [v1, v2])

other(name, subset_names, reason) := {"name": name, "subsetNames": subset_names, "reason": reason}

input_of(kind, f) := inputs.create(kind, f)

vs_input(destinations, facts) := input_of("VirtualService", {"destinations": destinations, "hosts": {"reviews": facts}})

dr_input(names) := input_of("DestinationRule", {"subsetNames": names})

codes(fs) := inputs.codes(fs)

test_constructors if {
	host_facts(null, []).resolved
	not host_facts(null, []).destinationRule
	host_facts(reviews_rule, []).destinationRule.subsets.v2.labels == {"version": "v2"}
	reviews_rule.subsetNames == ["v1", "v2"]
}

# MESH0301

test_defined_subsets_are_fine if {
	fs := subsets.findings with input as vs_input([dest(route0, "v1"), dest("spec.http[0].route[1].destination", "v2")], host_facts(reviews_rule, []))
	count(fs) == 0
}

test_no_subset_needs_no_rule if {
	fs := subsets.findings with input as vs_input([dest(route0, "")], host_facts(null, []))
	count(fs) == 0
}

test_subset_without_rule if {
	fs := subsets.findings with input as vs_input([dest(route0, "v1")], host_facts(null, []))
	count(fs) == 1
	some f in fs
	f.code == "MESH0301"
	f.severity == "error"
	f.category == "subset"
	f.field == "spec.http[0].route[0].destination.subset"
	f.message == "subset \"v1\" of host reviews.default.svc.cluster.local is not defined by any DestinationRule visible from namespace default; define the subset in a DestinationRule for this host"
}

test_subset_undefined_by_applied_rule if {
	fs := subsets.findings with input as vs_input([dest(route0, "v3")], host_facts(reviews_rule, []))
	count(fs) == 1
	some f in fs
	f.code == "MESH0301"
	endswith(f.message, "visible from namespace default; DestinationRule default/reviews defines v1, v2")
}

test_subset_undefined_by_rule_without_subsets if {
	fs := subsets.findings with input as vs_input([dest(route0, "v1")], host_facts(rule(["default/reviews"], []), []))
	some f in fs
	f.code == "MESH0301"
	endswith(f.message, "; DestinationRule default/reviews defines no subsets")
}

test_subset_undefined_by_merged_rules if {
	merged := rule(["default/reviews-a", "default/reviews-b"], [v1, v2])
	fs := subsets.findings with input as vs_input([dest(route0, "v3")], host_facts(merged, []))
	some f in fs
	contains(f.message, "; DestinationRule default/reviews-a + default/reviews-b defines v1, v2")
}

# A rule that defines the subset but is not the one applied explains why.
test_subset_defined_by_rule_not_applied if {
	others := [
		other("prod/reviews", ["v1", "v3"], "namespace default does not take DestinationRules from namespace prod"),
		other("default/reviews-old", ["v4"], "its exportTo [.] does not include namespace default"),
	]
	fs := subsets.findings with input as vs_input([dest(route0, "v3")], host_facts(reviews_rule, others))
	count(fs) == 1
	some f in fs
	f.code == "MESH0301"
	endswith(f.message, "; DestinationRule default/reviews defines v1, v2; DestinationRule prod/reviews defines it but is not applied: namespace default does not take DestinationRules from namespace prod")
	not contains(f.message, "reviews-old")
}

test_subset_defined_only_by_rule_not_exported if {
	others := [other("istio-system/reviews", ["v2"], "its exportTo [istio-system] does not include namespace default")]
	fs := subsets.findings with input as vs_input([dest(route0, "v2")], host_facts(null, others))
	some f in fs
	f.code == "MESH0301"
	endswith(f.message, "; define the subset in a DestinationRule for this host; DestinationRule istio-system/reviews defines it but is not applied: its exportTo [istio-system] does not include namespace default")
}

test_undefined_mirror_subset if {
	mirror := object.union(dest("spec.http[0].mirror", "shadow"), {"mirror": true})
	fs := subsets.findings with input as vs_input([dest(route0, "v1"), mirror], host_facts(reviews_rule, []))
	count(fs) == 1
	some f in fs
	f.field == "spec.http[0].mirror.subset"
}

# MESH0302

test_subset_selecting_no_workload if {
	canary := rule(["default/reviews"], [v1, ["v2", {"version": "v2", "track": "canary"}, 0]])
	fs := subsets.findings with input as vs_input([dest(route0, "v2")], host_facts(canary, []))
	count(fs) == 1
	some f in fs
	f.code == "MESH0302"
	f.severity == "warning"
	f.category == "subset"
	f.field == "spec.http[0].route[0].destination.subset"
	contains(f.message, "subset \"v2\" of host reviews.default.svc.cluster.local (labels track=canary,version=v2) selects no workload of Service default/reviews")
}

# -1 means the workloads are unknown (none were given): nothing to say.
test_subset_with_unknown_workloads_is_fine if {
	unknown := rule(["default/reviews"], [["v2", {"version": "v2"}, -1]])
	fs := subsets.findings with input as vs_input([dest(route0, "v2")], host_facts(unknown, []))
	count(fs) == 0
}

test_subset_selecting_workloads_is_fine if {
	fs := subsets.findings with input as vs_input([dest(route0, "v2")], host_facts(reviews_rule, []))
	count(fs) == 0
}

# MESH0303

test_unique_subset_names_are_fine if {
	fs := subsets.findings with input as dr_input(["v1", "v2", "v3"])
	count(fs) == 0
}

test_duplicate_subset_name if {
	fs := subsets.findings with input as dr_input(["v1", "v2", "v1"])
	count(fs) == 1
	some f in fs
	f.code == "MESH0303"
	f.severity == "error"
	f.category == "subset"
	f.field == "spec.subsets[2].name"
	f.message == "subset \"v1\" is defined twice (subsets 0 and 2); Istio uses the first, so rename or remove one"
}

test_two_duplicate_subset_names if {
	fs := subsets.findings with input as dr_input(["v1", "v2", "v2", "v1"])
	{f.field | some f in fs} == {"spec.subsets[2].name", "spec.subsets[3].name"}
}

test_other_kinds_are_ignored if {
	vs := vs_input([dest(route0, "v3")], host_facts(reviews_rule, []))
	codes(subsets.findings) == {"MESH0301"} with input as vs
	count(subsets.findings) == 0 with input as object.union(vs, {"kind": "DestinationRule"})
	codes(subsets.findings) == {"MESH0303"} with input as dr_input(["v1", "v1"])
	count(subsets.findings) == 0 with input as object.union(dr_input(["v1", "v1"]), {"kind": "VirtualService"})
}

test_dropped_destination_of_an_undefined_subset if {
	dropped := object.union(dest("spec.http[0].route[1].destination", "v9"), {"dropped": true})
	fs := subsets.findings with input as vs_input([dest(route0, "v1"), dropped], host_facts(reviews_rule, []))
	count(fs) == 0
}

test_subset_undefined_where_exported if {
	only_v2 := rule(["shop/reviews"], [v2])
	inp := object.union(
		vs_input([dest(route0, "v1")], host_facts(reviews_rule, [])),
		{"facts": {"reach": [{"namespace": "shop", "hosts": {"reviews": host_facts(only_v2, [])}}]}},
	)
	fs := subsets.findings with input as inp
	count(fs) == 1
	some f in fs
	f.code == "MESH0301"
	f.message == "subset \"v1\" of host reviews.default.svc.cluster.local is not defined by the DestinationRule that namespace shop gets, and this VirtualService is exported there, so calls from there fail; DestinationRule shop/reviews defines v2"
}
