package mesh.ports_test

import data.mesh.ports
import data.mesh.test_inputs as inputs

# Input constructors, shaped as policies/term.go builds the input.

dest(host, port) := inputs.destination({"host": host, "port": port, "portKey": port_key(port)})

port_key(port) := sprintf("%d", [port]) if port != null

else := ""

port(name, number) := {"name": name, "number": number, "protocol": "HTTP"}

host_facts(kind, name, port_list) := inputs.host("web.default.svc.cluster.local", {
	"resolved": true,
	"kind": kind,
	"name": name,
	"ports": port_list,
	"portSet": {sprintf("%d", [p.number]): true | some p in port_list},
	"workloadsKnown": true,
})

service(port_list) := host_facts("Service", "default/web", port_list)

# unresolved keeps a port list, which the Go side never sends for a host
# it could not resolve, so that the rule's own resolved check is tested.
unresolved := object.union(host_facts("", "", [port("http", 9080)]), {"resolved": false})

input_of(kind, d, facts) := inputs.create(kind, {"destinations": [d], "hosts": {d.host: facts}})

vs_input(d, facts) := input_of("VirtualService", d, facts)

codes(fs) := inputs.codes(fs)

test_constructors if {
	service([port("http", 80), port("https", 443)]).portSet == {"80": true, "443": true}
	dest("web", 8080).portKey == "8080"
	dest("web", null).portKey == ""
}

# MESH0401

test_known_port_is_fine if {
	fs := ports.findings with input as vs_input(dest("web", 9080), service([port("http", 9080)]))
	count(fs) == 0
}

test_unknown_port if {
	fs := ports.findings with input as vs_input(dest("web", 8080), service([port("http", 9080)]))
	count(fs) == 1
	some f in fs
	f.code == "MESH0401"
	f.severity == "error"
	f.category == "port"
	f.field == "spec.http[0].route[0].destination.port.number"
	f.message == "port 8080 is not a port of Service default/web; it has 9080 (http)"
}

test_unknown_port_lists_unnamed_ports if {
	facts := host_facts("ServiceEntry", "default/api", [port("", 443), port("grpc", 8443)])
	fs := ports.findings with input as vs_input(dest("api.example.com", 80), facts)
	some f in fs
	f.code == "MESH0401"
	f.message == "port 80 is not a port of ServiceEntry default/api; it has 443, 8443 (grpc)"
}

# An unknown host is the hosts policy's to report, not a port problem.
test_port_of_unresolved_host_is_not_checked if {
	fs := ports.findings with input as vs_input(dest("web", 8080), unresolved)
	count(fs) == 0
}

# A ServiceEntry without ports says nothing about which are valid.
test_port_of_host_without_ports_is_not_checked if {
	fs := ports.findings with input as vs_input(dest("api.example.com", 8080), host_facts("ServiceEntry", "default/api", []))
	count(fs) == 0
}

# MESH0402

test_single_port_needs_no_selector if {
	fs := ports.findings with input as vs_input(dest("web", null), service([port("http", 80)]))
	count(fs) == 0
}

# listening is a VirtualService whose routes are served on the given
# listener ports.
listening(d, facts, listeners) := object.union(vs_input(d, facts), {"facts": {"listenerPorts": listeners}})

# listener is a listener port; a sidecar's when it comes from a Service.
listener(number, via) := {"number": number, "via": via, "sidecar": startswith(via, "Service ")}

test_multi_port_without_selector_on_its_own_ports if {
	fs := ports.findings with input as listening(dest("web", null), service([port("http", 80), port("https", 443)]), [listener(80, "Service default/web"), listener(443, "Service default/web")])
	count(fs) == 0
}

test_multi_port_without_selector_on_a_gateway if {
	fs := ports.findings with input as listening(dest("web", null), service([port("http", 9080), port("grpc", 9090)]), [listener(80, "Gateway istio-system/edge")])
	count(fs) == 1
	some f in fs
	f.code == "MESH0402"
	f.severity == "error"
	f.category == "port"
	f.field == "spec.http[0].route[0].destination"
	f.message == "this route is served on port 80 (Gateway istio-system/edge), and without port.number Envoy sends it to the listener's port, which Service default/web lacks (it has 9080 (http), 9090 (grpc)); set port.number"
}

test_multi_port_without_selector_missing_some_listeners if {
	fs := ports.findings with input as listening(dest("web", null), service([port("http", 80), port("https", 443)]), [listener(80, "Service default/web"), listener(8080, "Service default/app"), listener(9090, "Gateway x/y")])
	some f in fs
	contains(f.message, "served on port 8080 (Service default/app) and port 9090 (Gateway x/y),")
}

test_single_port_destination_at_a_sidecar_takes_the_listener_port if {
	fs := ports.findings with input as listening(dest("web", null), service([port("http", 9080)]), [listener(80, "Service default/front")])
	codes(fs) == {"MESH0402"}
}

test_single_port_destination_at_a_gateway_takes_its_port if {
	fs := ports.findings with input as listening(dest("web", null), service([port("http", 9080)]), [listener(80, "Gateway istio-system/edge")])
	count(fs) == 0
}

test_dropped_destination_is_not_judged if {
	d := object.union(dest("web", null), {"dropped": true})
	fs := ports.findings with input as listening(d, service([port("http", 9080), port("grpc", 9090)]), [listener(80, "Gateway istio-system/edge")])
	count(fs) == 0
	wrong := object.union(dest("web", 8443), {"dropped": true})
	count(ports.findings) == 0 with input as vs_input(wrong, service([port("http", 80)]))
}

test_multi_port_with_selector_is_fine if {
	fs := ports.findings with input as vs_input(dest("web", 443), service([port("http", 80), port("https", 443)]))
	count(fs) == 0
}

test_multi_port_with_wrong_selector if {
	fs := ports.findings with input as vs_input(dest("web", 8443), service([port("http", 80), port("https", 443)]))
	codes(fs) == {"MESH0401"}
}

test_other_kinds_are_ignored if {
	multi := service([port("http", 80), port("https", 443)])
	codes(ports.findings) == {"MESH0402"} with input as listening(dest("web", null), multi, [listener(8080, "Service default/app")])
	count(ports.findings) == 0 with input as input_of("DestinationRule", dest("web", null), multi)
	count(ports.findings) == 0 with input as input_of("DestinationRule", dest("web", 8080), multi)
}

test_listener_of_another_namespace if {
	inp := object.union(
		listening(dest("web", null), service([port("http", 9080)]), [listener(9080, "Service default/web")]),
		{"facts": {"reach": [{"namespace": "shop", "hosts": {}, "listenerPorts": [{"number": 80, "via": "sidecars, for host web, which they do not see", "sidecar": true}]}]}},
	)
	fs := ports.findings with input as inp
	count(fs) == 1
	some f in fs
	f.code == "MESH0402"
	startswith(f.message, "from namespace shop, which this VirtualService is exported to, this route is served on port 80 (sidecars, for host web, which they do not see)")
}
