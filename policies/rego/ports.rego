# A destination port must be one the Service or ServiceEntry exposes, and a
# host with several ports needs a port selector.

# METADATA
# title: Destination ports
# custom:
#   kinds: [VirtualService]
package mesh.ports

import data.mesh.lib

findings contains lib.error("MESH0401", "port", sprintf("%s.port.number", [d.field]), msg) if {
	input.kind == "VirtualService"
	some d in input.facts.destinations
	d.port != null
	facts := input.facts.hosts[d.host]
	facts.resolved == true
	not facts.portSet[d.portKey]
	count(facts.ports) > 0
	msg := sprintf("port %v is not a port of %s %s; it has %s", [d.port, facts.kind, facts.name, port_list(facts.ports)])
}

# Hosts first: most hosts have one port, and then no destination needs a
# look.
findings contains lib.error("MESH0402", "port", d.field, msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	count(facts.ports) > 1
	some d in input.facts.destinations
	d.host == host
	d.port == null
	msg := sprintf("%s %s has %d ports (%s), so the destination must select one with port.number", [facts.kind, facts.name, count(facts.ports), port_list(facts.ports)])
}

port_list(ports) := concat(", ", [describe(p) | some p in ports])

describe(p) := sprintf("%v (%s)", [p.number, p.name]) if p.name != ""

else := sprintf("%v", [p.number])
