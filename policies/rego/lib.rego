# Shared helpers of the kubectl-mesh policies: the shape of a finding and
# the walk over a VirtualService's routes and destinations. Every walk
# checks types first, so a malformed object yields schema findings (see
# schema.rego) instead of bogus findings here.
package mesh.lib

spec := input.object.spec if is_object(input.object.spec)

is_virtual_service if input.kind == "VirtualService"

is_destination_rule if input.kind == "DestinationRule"

error(code, category, field, message) := {
	"code": code,
	"severity": "error",
	"category": category,
	"field": field,
	"message": message,
}

warning(code, category, field, message) := {
	"code": code,
	"severity": "warning",
	"category": category,
	"field": field,
	"message": message,
}

route_kinds := ["http", "tcp", "tls"]

# routes: every route list of a VirtualService, with its field path.
routes contains route if {
	is_virtual_service
	some kind in route_kinds
	is_array(spec[kind])
	some i, r in spec[kind]
	is_array(r.route)
	route := {
		"field": sprintf("spec.%s[%d].route", [kind, i]),
		"destinations": r.route,
	}
}

# destinations: every route destination and http mirror with a string host.
destinations contains d if {
	some route in routes
	some j, rd in route.destinations
	d := destination(rd.destination, sprintf("%s[%d].destination", [route.field, j]))
}

destinations contains d if {
	is_virtual_service
	is_array(spec.http)
	some i, r in spec.http
	d := destination(r.mirror, sprintf("spec.http[%d].mirror", [i]))
}

destinations contains d if {
	is_virtual_service
	is_array(spec.http)
	some i, r in spec.http
	is_array(r.mirrors)
	some j, m in r.mirrors
	d := destination(m.destination, sprintf("spec.http[%d].mirrors[%d].destination", [i, j]))
}

destination(dest, field) := {
	"field": field,
	"host": dest.host,
	"subset": subset_of(dest),
	"port": port_of(dest),
} if {
	is_object(dest)
	is_string(dest.host)
}

subset_of(dest) := dest.subset if is_string(dest.subset)

else := ""

port_of(dest) := dest.port.number if is_number(dest.port.number)

else := null

# host_facts is what the inventory resolved for a destination host.
host_facts(host) := input.facts.hosts[host]

# join_or lists names for a message, or says there are none.
join_or(names, none) := concat(", ", names) if count(names) > 0

else := none
