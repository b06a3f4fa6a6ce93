# Subsets must be defined by the DestinationRule the calling namespace
# actually gets for the host: Istio looks in the VirtualService's
# namespace, then the host's, then the root namespace, honouring exportTo.

# METADATA
# title: Subsets
# custom:
#   kinds: [VirtualService, DestinationRule]
package mesh.subsets

import data.mesh.lib

findings contains lib.error("MESH0301", "subset", sprintf("%s.subset", [d.field]), msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.subset != ""
	not d.dropped
	not facts.destinationRule.subsets[d.subset]
	msg := sprintf("subset %q of host %s is not defined by any DestinationRule visible from namespace %s; %s%s", [d.subset, facts.fqdn, input.facts.namespace, applied(facts), elsewhere(facts, d.subset)])
}

# Sidecars of the other namespaces the VirtualService is exported to apply
# the DestinationRule they get, which may lack the subset.
findings contains lib.error("MESH0301", "subset", sprintf("%s.subset", [d.field]), msg) if {
	input.kind == "VirtualService"
	some reach in input.facts.reach
	some host, facts in reach.hosts
	facts.resolved == true
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.subset != ""
	not d.dropped
	not facts.destinationRule.subsets[d.subset]
	msg := sprintf("subset %q of host %s is not defined by the DestinationRule that %s gets, and this VirtualService is exported there, so calls from there fail; %s", [d.subset, facts.fqdn, lib.namespace_name(reach.namespace), applied(facts)])
}

# Pods may be on their way, so a subset that selects none of the workloads
# in the input is only a warning, and only when workloads were given.
# Subsets of the applied rules first, then the destinations naming them:
# the usual case (no subset without workloads) visits no destination.
findings contains lib.warning("MESH0302", "subset", sprintf("%s.subset", [d.field]), msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	some name, sub in facts.destinationRule.subsets
	sub.workloads == 0
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.subset == name
	not d.dropped
	msg := sprintf("subset %q of host %s (labels %s) selects no workload of %s %s; traffic to it fails until such pods run", [d.subset, facts.fqdn, labels(sub.labels), facts.kind, facts.name])
}

findings contains lib.error("MESH0303", "subset", sprintf("spec.subsets[%d].name", [j]), msg) if {
	input.kind == "DestinationRule"
	names := input.facts.subsetNames
	count(names) != count({n | some n in names})
	some i, a in names
	some j, b in names
	i < j
	a == b
	msg := sprintf("subset %q is defined twice (subsets %d and %d); Istio uses the first, so rename or remove one", [b, i, j])
}

applied(facts) := sprintf("DestinationRule %s defines %s", [concat(" + ", facts.destinationRule.names), lib.join_or(facts.destinationRule.subsetNames, "no subsets")]) if {
	facts.destinationRule
} else := "define the subset in a DestinationRule for this host"

elsewhere(facts, name) := concat("", [sprintf("; DestinationRule %s defines it but is not applied: %s", [o.name, o.reason]) |
	some o in facts.otherDestinationRules
	name in o.subsetNames
])

labels(m) := concat(",", [sprintf("%s=%s", [k, v]) | some k, v in m])
