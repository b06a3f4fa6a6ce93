# Destination hosts must be real: a Kubernetes Service or a ServiceEntry
# host visible from the namespace of the VirtualService. A VirtualService's
# own hosts are virtual and are not checked here.

# METADATA
# title: Destination hosts
# custom:
#   kinds: [VirtualService, DestinationRule]
package mesh.hosts

import data.mesh.lib

# Hosts first: a VirtualService names few hosts and routes to each from
# several destinations, so the usual case (every host resolves) is decided
# without visiting the destinations, and a host that fails visits only its
# own (input.facts.byHost). A destination of weight 0 beside others is
# left out of Envoy's config by pilot, so nothing breaks there.
findings contains lib.error("MESH0201", "host", sprintf("%s.host", [d.field]), msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	facts.resolved == false
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	not d.dropped
	msg := sprintf("host %q%s is no Service or ServiceEntry visible from namespace %s; %s", [d.host, expanded(d.host, facts), input.facts.namespace, hint(facts)])
}

# The sidecars of every namespace the VirtualService is exported to take
# its routes, and each resolves the destinations for itself.
findings contains lib.error("MESH0201", "host", sprintf("%s.host", [d.field]), msg) if {
	input.kind == "VirtualService"
	some reach in input.facts.reach
	some host, facts in reach.hosts
	facts.resolved == false
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	not d.dropped
	msg := sprintf("host %q (%s) is not visible from %s, which this VirtualService is exported to, so calls from there fail; %s", [d.host, facts.fqdn, lib.namespace_name(reach.namespace), reach_hint(facts)])
}

reach_hint(facts) := sprintf("it exists as %s; export it there too, or narrow this VirtualService's exportTo", [concat(" and ", facts.hiddenBy)]) if {
	count(facts.hiddenBy) > 0
} else := "narrow this VirtualService's exportTo"

# A DestinationRule for a host nobody serves does nothing; often a typo.
findings contains lib.warning("MESH0202", "host", "spec.host", msg) if {
	input.kind == "DestinationRule"
	some host, facts in input.facts.hosts
	facts.resolved == false
	not facts.wildcard
	msg := sprintf("host %q%s is no Service or ServiceEntry visible from namespace %s, so this DestinationRule applies to nothing; %s", [host, expanded(host, facts), input.facts.namespace, hint(facts)])
}

expanded(host, facts) := sprintf(" (%s)", [facts.fqdn]) if host != facts.fqdn

else := ""

hint(facts) := sprintf("it exists as %s, which is not exported to namespace %s", [concat(" and ", facts.hiddenBy), input.facts.namespace]) if {
	count(facts.hiddenBy) > 0
} else := sprintf("did you mean %s?", [concat(" or ", facts.candidates)]) if {
	count(facts.candidates) > 0
} else := "a name with a dot is taken literally, so write the full name.namespace.svc.<cluster domain>" if {
	not contains(facts.fqdn, ".svc.")
	count(split(facts.fqdn, ".")) == 2
} else := "create the Service or a ServiceEntry for it, or correct the host"
