# A destination port must be one the Service or ServiceEntry exposes. A
# destination without a port goes to the port of the listener the route is
# served on (pilot's GetDestinationCluster), unless its host has just one
# port: that port must then exist on the destination's host.

# METADATA
# title: Destination ports
# custom:
#   kinds: [VirtualService]
package mesh.ports

import data.mesh.lib

findings contains lib.error("MESH0401", "port", sprintf("%s.port.number", [d.field]), msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	facts.resolved == true
	count(facts.ports) > 0
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.port != null
	not d.dropped
	not facts.portSet[d.portKey]
	msg := sprintf("port %v is not a port of %s %s; it has %s", [d.port, facts.kind, facts.name, port_list(facts.ports)])
}

# Hosts first: most hosts have one port, and then no destination needs a
# look. A mesh route to the Service it is for always finds its port; a
# route bound to a Gateway (listener port 80, Service port 9080), or to
# another Service that lacks one of the listener's ports, ends in a
# cluster that does not exist.
findings contains lib.error("MESH0402", "port", d.field, msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	facts.resolved == true
	count(facts.ports) > 1
	missing := [lp | some lp in input.facts.listenerPorts; not facts.portSet[sprintf("%d", [lp.number])]]
	count(missing) > 0
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.port == null
	not d.dropped
	msg := sprintf("this route is served on %s, and without port.number Envoy sends it to the listener's port, which %s %s lacks (it has %s); set port.number", [listener_list(missing), facts.kind, facts.name, port_list(facts.ports)])
}

port_list(ports) := concat(", ", [describe(p) | some p in ports])

describe(p) := sprintf("%v (%s)", [p.number, p.name]) if p.name != ""

else := sprintf("%v", [p.number])

listener_list(ports) := concat(" and ", [sprintf("port %d (%s)", [p.number, p.via]) | some p in ports])
