# The referenced side: an update or delete must not take away what
# VirtualServices still route to. input.facts.usedBy lists those uses;
# offline validation has no old objects, so only the webhook reaches here.

# METADATA
# title: References
# custom:
#   kinds: [DestinationRule, ServiceEntry, Gateway]
#   operations: [UPDATE, DELETE]
package mesh.references

import data.mesh.lib

findings contains lib.error("MESH0601", "reference", "spec.subsets", msg) if {
	input.operation == "UPDATE"
	input.kind == "DestinationRule"
	some name in removed_subsets
	users := users_of_subset(name)
	count(users) > 0
	msg := sprintf("subset %q is removed, but %s still route to it; move those routes to another subset first, then remove it", [name, concat(", ", users)])
}

findings contains lib.error("MESH0602", "reference", "metadata.name", msg) if {
	input.operation == "DELETE"
	input.kind == "DestinationRule"
	some name in old_subsets
	users := users_of_subset(name)
	count(users) > 0
	msg := sprintf("subset %q of this DestinationRule is still routed to by %s; remove those routes first, then delete the DestinationRule", [name, concat(", ", users)])
}

findings contains lib.error("MESH0603", "reference", "metadata.name", msg) if {
	input.operation == "DELETE"
	input.kind == "ServiceEntry"
	users := {sprintf("VirtualService %s (%s)", [u.virtualService, u.host]) | some u in input.facts.usedBy}
	count(users) > 0
	msg := sprintf("the hosts of this ServiceEntry are still routed to by %s; remove those routes first, then delete the ServiceEntry", [concat(", ", users)])
}

findings contains lib.error("MESH0604", "reference", "metadata.name", msg) if {
	input.operation == "DELETE"
	input.kind == "Gateway"
	users := {sprintf("VirtualService %s", [u.virtualService]) | some u in input.facts.usedBy}
	count(users) > 0
	msg := sprintf("this Gateway is still bound by %s; remove it from their gateways first, then delete the Gateway", [concat(", ", users)])
}

old_subsets := {name | some name in input.facts.oldSubsetNames}

new_subsets := {name | some name in input.facts.subsetNames}

removed_subsets := old_subsets - new_subsets

users_of_subset(name) := {sprintf("VirtualService %s (%s)", [u.virtualService, u.field]) |
	some u in input.facts.usedBy
	u.subset == name
}
