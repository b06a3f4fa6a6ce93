# A VirtualService bound to gateways needs them to exist and to serve its
# hosts; otherwise the gateway silently ignores it.
package mesh.gateways

import data.mesh.lib

gateway_refs contains [ref, field] if {
	lib.is_virtual_service
	is_array(lib.spec.gateways)
	some i, ref in lib.spec.gateways
	is_string(ref)
	field := sprintf("spec.gateways[%d]", [i])
}

gateway_refs contains [ref, field] if {
	lib.is_virtual_service
	some kind in lib.route_kinds
	is_array(lib.spec[kind])
	some i, route in lib.spec[kind]
	is_array(route.match)
	some j, m in route.match
	is_array(m.gateways)
	some k, ref in m.gateways
	is_string(ref)
	field := sprintf("spec.%s[%d].match[%d].gateways[%d]", [kind, i, j, k])
}

findings contains lib.error("MESH0501", "gateway", field, msg) if {
	some [ref, field] in gateway_refs
	g := input.facts.gateways[ref]
	not g.exists
	msg := sprintf("Gateway %s does not exist%s; create it or fix the name (use namespace/name for a Gateway in another namespace, or \"mesh\" for sidecars)", [g.key, same_namespace_hint(ref, g)])
}

findings contains lib.error("MESH0502", "gateway", field, msg) if {
	some [ref, field] in first_refs
	g := input.facts.gateways[ref]
	g.exists
	count(g.servedHosts) == 0
	msg := sprintf("no host of this VirtualService (%s) is served by Gateway %s (server hosts %s), so the gateway ignores it; add a matching host to a server or to the VirtualService", [concat(", ", lib.spec.hosts), g.key, lib.join_or(g.serverHosts, "none")])
}

findings contains lib.warning("MESH0503", "gateway", field, msg) if {
	some [ref, field] in first_refs
	g := input.facts.gateways[ref]
	count(g.servedHosts) > 0
	some host in g.unservedHosts
	msg := sprintf("host %q is not served by Gateway %s (server hosts %s), so it is not reachable through that gateway", [host, g.key, lib.join_or(g.serverHosts, "none")])
}

findings contains lib.error("MESH0504", "gateway", "spec.exportTo", msg) if {
	some [ref, _] in first_refs
	g := input.facts.gateways[ref]
	g.exists
	g.visible == false
	msg := sprintf("exportTo [%s] hides this VirtualService from namespace %s, where Gateway %s is, so the gateway ignores it; add %q to exportTo", [concat(", ", input.object.spec.exportTo), g.namespace, g.key, g.namespace])
}

# first_refs keeps one field per gateway, so a gateway named in spec and in
# several match clauses is reported once.
first_refs contains [ref, field] if {
	some [ref, field] in gateway_refs
	field == min([f | some [r, f] in gateway_refs; r == ref])
}

same_namespace_hint(ref, g) := sprintf(" (a name without a namespace means namespace %s)", [g.namespace]) if {
	not contains(ref, "/")
} else := ""
