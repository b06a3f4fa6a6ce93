# A VirtualService bound to gateways needs them to exist and to serve its
# hosts; otherwise the gateway silently ignores it.

# METADATA
# title: Gateways
# custom:
#   kinds: [VirtualService]
#   facts: [gateways]
package mesh.gateways

import data.mesh.lib

findings contains lib.error("MESH0501", "gateway", g.field, msg) if {
	input.kind == "VirtualService"
	some g in input.facts.gateways
	g.exists == false
	msg := sprintf("Gateway %s does not exist%s; create it or fix the name (use namespace/name for a Gateway in another namespace, or \"mesh\" for sidecars)", [g.key, same_namespace_hint(g)])
}

findings contains lib.error("MESH0502", "gateway", g.field, msg) if {
	input.kind == "VirtualService"
	some g in input.facts.gateways
	g.exists == true
	count(g.servedHosts) == 0
	msg := sprintf("no host of this VirtualService (%s) is served by Gateway %s (server hosts %s), so the gateway ignores it; add a matching host to a server or to the VirtualService", [concat(", ", g.unservedHosts), g.key, lib.join_or(g.serverHosts, "none")])
}

# A host that another bound gateway serves (mesh serves every host the
# sidecars know) is reachable there: bound to [edge, mesh], a short host
# served by mesh is fine.
findings contains lib.warning("MESH0503", "gateway", g.field, msg) if {
	input.kind == "VirtualService"
	not input.facts.meshBound
	some g in input.facts.gateways
	count(g.servedHosts) > 0
	some host in g.unservedHosts
	not served_elsewhere(host)
	msg := sprintf("host %q is not served by Gateway %s (server hosts %s) nor by any other gateway this VirtualService binds to, so it is unreachable", [host, g.key, lib.join_or(g.serverHosts, "none")])
}

served_elsewhere(host) if {
	some g in input.facts.gateways
	host in g.servedHosts
}

findings contains lib.error("MESH0504", "gateway", "spec.exportTo", msg) if {
	input.kind == "VirtualService"
	some g in input.facts.gateways
	g.exists == true
	g.visible == false
	msg := sprintf("exportTo [%s] hides this VirtualService from namespace %s, where Gateway %s is, so the gateway ignores it; add %q to exportTo", [concat(", ", input.facts.exportTo), g.namespace, g.key, g.namespace])
}

same_namespace_hint(g) := sprintf(" (a name without a namespace means namespace %s)", [g.namespace]) if {
	not contains(g.ref, "/")
} else := ""
