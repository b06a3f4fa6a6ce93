# A destination port must be one the Service or ServiceEntry exposes, and a
# host with several ports needs a port selector.
package mesh.ports

import data.mesh.lib

findings contains lib.error("MESH0401", "port", sprintf("%s.port.number", [d.field]), msg) if {
	some d in lib.destinations
	d.port != null
	facts := lib.host_facts(d.host)
	facts.resolved
	count(facts.ports) > 0
	not has_port(facts.ports, d.port)
	msg := sprintf("port %v is not a port of %s %s; it has %s", [d.port, facts.kind, facts.name, port_list(facts.ports)])
}

findings contains lib.error("MESH0402", "port", d.field, msg) if {
	some d in lib.destinations
	d.port == null
	facts := lib.host_facts(d.host)
	facts.resolved
	count(facts.ports) > 1
	msg := sprintf("%s %s has %d ports (%s), so the destination must select one with port.number", [facts.kind, facts.name, count(facts.ports), port_list(facts.ports)])
}

has_port(ports, number) if {
	some p in ports
	p.number == number
}

port_list(ports) := concat(", ", [describe(p) | some p in ports])

describe(p) := sprintf("%v (%s)", [p.number, p.name]) if p.name != ""

else := sprintf("%v", [p.number])
