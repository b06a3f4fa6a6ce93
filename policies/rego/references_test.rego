package mesh.references_test

import data.mesh.references
import data.mesh.test_inputs as inputs

# Input constructors, shaped as policies/term.go builds the input. On
# DELETE the Go side has no new object: subsetNames is empty and
# oldSubsetNames are those of the stored DestinationRule.

input_of(kind, operation, f) := inputs.review(kind, operation, f)

reviews := "reviews.default.svc.cluster.local"

# use is one destination of a VirtualService routing to host and subset.
use(vs, host, subset, field) := {
	"virtualService": vs,
	"namespace": split(vs, "/")[0],
	"host": host,
	"subset": subset,
	"field": field,
}

# bound is a VirtualService binding the Gateway under review.
bound(vs) := use(vs, "", "", "")

dr_update(old_names, new_names, used_by) := input_of("DestinationRule", "UPDATE", {
	"subsetNames": new_names,
	"oldSubsetNames": old_names,
	"usedBy": used_by,
})

dr_delete(old_names, used_by) := input_of("DestinationRule", "DELETE", {"oldSubsetNames": old_names, "usedBy": used_by})

v3_user := use("default/reviews", reviews, "v3", "spec.http[0].route[1].destination")

codes(fs) := inputs.codes(fs)

# MESH0601

test_update_removing_used_subset if {
	fs := references.findings with input as dr_update(["v1", "v2", "v3"], ["v1", "v2"], [v3_user])
	count(fs) == 1
	some f in fs
	f.code == "MESH0601"
	f.severity == "error"
	f.category == "reference"
	f.field == "spec.subsets"
	f.message == "subset \"v3\" is removed, but VirtualService default/reviews (spec.http[0].route[1].destination) still route to it; move those routes to another subset first, then remove it"
}

test_update_removing_subset_used_twice if {
	users := [v3_user, use("shop/front", reviews, "v3", "spec.http[2].mirror"), use("default/other", reviews, "v1", "spec.tcp[0].route[0].destination")]
	fs := references.findings with input as dr_update(["v1", "v3"], ["v1"], users)
	count(fs) == 1
	some f in fs
	contains(f.message, "but VirtualService default/reviews (spec.http[0].route[1].destination), VirtualService shop/front (spec.http[2].mirror) still route to it")
	not contains(f.message, "default/other")
}

test_update_removing_unused_subset_is_fine if {
	fs := references.findings with input as dr_update(["v1", "v2", "v3"], ["v1", "v3"], [v3_user])
	count(fs) == 0
}

test_update_keeping_used_subset_is_fine if {
	fs := references.findings with input as dr_update(["v1", "v3"], ["v3", "v1", "v4"], [v3_user])
	count(fs) == 0
}

# Creating a DestinationRule takes nothing away.
test_create_is_fine if {
	fs := references.findings with input as object.union(dr_update(["v3"], [], [v3_user]), {"operation": "CREATE"})
	count(fs) == 0
}

# MESH0602

test_delete_used_destination_rule if {
	fs := references.findings with input as dr_delete(["v1", "v2", "v3"], [v3_user])
	count(fs) == 1
	some f in fs
	f.code == "MESH0602"
	f.severity == "error"
	f.category == "reference"
	f.field == "metadata.name"
	f.message == "subset \"v3\" of this DestinationRule is still routed to by VirtualService default/reviews (spec.http[0].route[1].destination); remove those routes first, then delete the DestinationRule"
}

test_delete_reports_each_used_subset if {
	users := [v3_user, use("default/reviews", reviews, "v1", "spec.http[0].route[0].destination")]
	fs := references.findings with input as dr_delete(["v1", "v2", "v3"], users)
	codes(fs) == {"MESH0602"}
	count(fs) == 2
}

test_delete_unused_destination_rule_is_fine if {
	fs := references.findings with input as dr_delete(["v1", "v2"], [v3_user])
	count(fs) == 0
}

test_delete_destination_rule_nobody_uses_is_fine if {
	fs := references.findings with input as dr_delete(["v1", "v2", "v3"], [])
	count(fs) == 0
}

# MESH0603

se_delete(used_by) := input_of("ServiceEntry", "DELETE", {"usedBy": used_by})

test_delete_used_service_entry if {
	users := [use("default/api", "api.example.com", "", "spec.http[0].route[0].destination")]
	fs := references.findings with input as se_delete(users)
	count(fs) == 1
	some f in fs
	f.code == "MESH0603"
	f.severity == "error"
	f.category == "reference"
	f.field == "metadata.name"
	f.message == "the hosts of this ServiceEntry are still routed to by VirtualService default/api (api.example.com); remove those routes first, then delete the ServiceEntry"
}

test_delete_service_entry_lists_each_use_once if {
	users := [
		use("default/api", "api.example.com", "", "spec.http[0].route[0].destination"),
		use("default/api", "api.example.com", "", "spec.http[1].route[0].destination"),
		use("shop/cart", "pay.example.com", "", "spec.tcp[0].route[0].destination"),
	]
	fs := references.findings with input as se_delete(users)
	some f in fs
	contains(f.message, "routed to by VirtualService default/api (api.example.com), VirtualService shop/cart (pay.example.com);")
}

test_delete_unused_service_entry_is_fine if {
	fs := references.findings with input as se_delete([])
	count(fs) == 0
}

test_update_used_service_entry_is_fine if {
	users := [use("default/api", "api.example.com", "", "spec.http[0].route[0].destination")]
	fs := references.findings with input as input_of("ServiceEntry", "UPDATE", {"usedBy": users})
	count(fs) == 0
}

# MESH0604

test_delete_bound_gateway if {
	fs := references.findings with input as input_of("Gateway", "DELETE", {"usedBy": [bound("default/bookinfo"), bound("shop/front")]})
	count(fs) == 1
	some f in fs
	f.code == "MESH0604"
	f.severity == "error"
	f.category == "reference"
	f.field == "metadata.name"
	f.message == "this Gateway is still bound by VirtualService default/bookinfo, VirtualService shop/front; remove it from their gateways first, then delete the Gateway"
}

test_delete_unbound_gateway_is_fine if {
	fs := references.findings with input as input_of("Gateway", "DELETE", {})
	count(fs) == 0
}

# Each rule is for its own kind and operation.
test_other_kinds_and_operations_are_ignored if {
	uses := {"usedBy": [v3_user], "oldSubsetNames": ["v3"]}
	codes(references.findings) == {"MESH0602"} with input as input_of("DestinationRule", "DELETE", uses)
	codes(references.findings) == {"MESH0603"} with input as input_of("ServiceEntry", "DELETE", uses)
	codes(references.findings) == {"MESH0604"} with input as input_of("Gateway", "DELETE", uses)
	codes(references.findings) == {"MESH0601"} with input as input_of("DestinationRule", "UPDATE", uses)
	count(references.findings) == 0 with input as input_of("VirtualService", "DELETE", uses)
	count(references.findings) == 0 with input as input_of("VirtualService", "UPDATE", uses)
	count(references.findings) == 0 with input as input_of("Gateway", "UPDATE", uses)
	count(references.findings) == 0 with input as input_of("DestinationRule", "CREATE", uses)
}
