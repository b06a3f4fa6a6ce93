# A destination port must be one the Service or ServiceEntry exposes. A
# destination without a port goes to the port of the listener the route is
# served on (pilot's GetDestinationCluster): that port must then exist on
# the destination's host.

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

# Hosts first: a host that has every listener port needs no look at its
# destinations. At a sidecar pilot looks a destination up among the
# Services on the listener's port only, so without a port it always takes
# the listener's port: a mesh route to the Service it is for finds it, a
# route to another Service lacking it ends in a cluster that does not
# exist. At a gateway a destination host with one port takes that port;
# with several it takes the listener's (port 80 against a Service's 9080).
findings contains lib.error("MESH0402", "port", d.field, msg) if {
	input.kind == "VirtualService"
	some host, facts in input.facts.hosts
	facts.resolved == true
	count(facts.ports) > 0
	missing := [lp | some lp in input.facts.listenerPorts; lacks_listener(facts, lp)]
	count(missing) > 0
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.port == null
	not d.dropped
	msg := sprintf("this route is served on %s, and without port.number Envoy sends it to the listener's port, which %s %s lacks (it has %s); set port.number", [listener_list(missing), facts.kind, facts.name, port_list(facts.ports)])
}

# Sidecars of another namespace the VirtualService is exported to may
# serve it on other ports (port 80 for a host they do not see) and see the
# destination otherwise.
findings contains lib.error("MESH0402", "port", d.field, msg) if {
	input.kind == "VirtualService"
	some reach in input.facts.reach
	count(reach.listenerPorts) > 0
	some host, own in input.facts.hosts
	facts := object.get(reach.hosts, host, own)
	facts.resolved == true
	count(facts.ports) > 0
	missing := [lp | some lp in reach.listenerPorts; lacks_listener(facts, lp)]
	count(missing) > 0
	some i in input.facts.byHost[host]
	d := input.facts.destinations[i]
	d.port == null
	not d.dropped
	msg := sprintf("from %s, which this VirtualService is exported to, this route is served on %s, and without port.number Envoy sends it to the listener's port, which %s %s lacks (it has %s); set port.number", [lib.namespace_name(reach.namespace), listener_list(missing), facts.kind, facts.name, port_list(facts.ports)])
}

lacks_listener(facts, lp) if {
	lp.sidecar
	not has_port(facts, lp.number)
}

lacks_listener(facts, lp) if {
	not lp.sidecar
	count(facts.ports) > 1
	not has_port(facts, lp.number)
}

# Port numbers are compared, never printed into keys: the decision cache
# may stand other numbers in for them (docs/policies.md).
has_port(facts, number) if {
	some p in facts.ports
	p.number == number
}

port_list(ports) := concat(", ", [describe(p) | some p in ports])

describe(p) := sprintf("%v (%s)", [p.number, p.name]) if p.name != ""

else := sprintf("%v", [p.number])

listener_list(ports) := concat(" and ", [sprintf("port %d (%s)", [p.number, p.via]) | some p in ports])
