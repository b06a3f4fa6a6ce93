# Schema sanity: fields of the wrong type or missing where Istio requires
# them. The API server's CRD schema catches most of this on apply, but the
# offline validator sees files first, and the other policies skip what they
# cannot read, so the reason has to be said here.
package mesh.schema

import data.mesh.lib

obj := input.object

spec := obj.spec

# expect holds [field, value, type] for every field present in the object.
expect contains ["spec", spec, "object"]

expect contains ["metadata.name", obj.metadata.name, "string"]

# VirtualService
expect contains [sprintf("spec.%s", [f]), spec[f], "strings"] if {
	input.kind == "VirtualService"
	some f in ["hosts", "gateways", "exportTo"]
}

expect contains [sprintf("spec.%s", [k]), spec[k], "array"] if {
	input.kind == "VirtualService"
	some k in lib.route_kinds
}

expect contains [sprintf("spec.%s[%d]", [k, i]), r, "object"] if {
	some [k, i, r] in vs_routes
}

expect contains [sprintf("spec.%s[%d].route", [k, i]), r.route, "array"] if {
	some [k, i, r] in vs_routes
}

expect contains [field, rd, "object"] if {
	some field, rd in route_destinations
}

expect contains [sprintf("%s.weight", [field]), rd.weight, "integer"] if {
	some field, rd in route_destinations
}

expect contains [sprintf("%s.destination", [field]), rd.destination, "object"] if {
	some field, rd in route_destinations
}

expect contains [sprintf("spec.http[%d].mirror", [i]), r.mirror, "object"] if {
	some ["http", i, r] in vs_routes
}

expect contains [sprintf("spec.http[%d].mirrors", [i]), r.mirrors, "array"] if {
	some ["http", i, r] in vs_routes
}

expect contains [sprintf("%s.%s", [field, f]), d[f], t] if {
	some field, d in destinations
	some f, t in {"host": "string", "subset": "string", "port": "object"}
}

expect contains [sprintf("%s.port.number", [field]), d.port.number, "integer"] if {
	some field, d in destinations
}

# DestinationRule
expect contains [sprintf("spec.%s", [f]), spec[f], t] if {
	input.kind == "DestinationRule"
	some f, t in {"host": "string", "subsets": "array", "exportTo": "strings", "trafficPolicy": "object"}
}

expect contains [sprintf("spec.subsets[%d]", [i]), s, "object"] if {
	some i, s in dr_subsets
}

expect contains [sprintf("spec.subsets[%d].%s", [i, f]), s[f], t] if {
	some i, s in dr_subsets
	some f, t in {"name": "string", "labels": "labels", "trafficPolicy": "object"}
}

# Gateway
expect contains [sprintf("spec.%s", [f]), spec[f], t] if {
	input.kind == "Gateway"
	some f, t in {"servers": "array", "selector": "labels"}
}

expect contains [sprintf("spec.servers[%d]", [i]), s, "object"] if {
	some i, s in gateway_servers
}

expect contains [sprintf("spec.servers[%d].%s", [i, f]), s[f], t] if {
	some i, s in gateway_servers
	some f, t in {"hosts": "strings", "port": "object"}
}

expect contains [sprintf("spec.servers[%d].port.number", [i]), s.port.number, "integer"] if {
	some i, s in gateway_servers
}

# ServiceEntry
expect contains [sprintf("spec.%s", [f]), spec[f], t] if {
	input.kind == "ServiceEntry"
	some f, t in {"hosts": "strings", "ports": "array", "exportTo": "strings", "addresses": "strings"}
}

expect contains [sprintf("spec.ports[%d].number", [i]), p.number, "integer"] if {
	input.kind == "ServiceEntry"
	is_array(spec.ports)
	some i, p in spec.ports
}

# required holds [field, present] for fields Istio requires.
required contains ["spec", spec]

required contains ["metadata.name", obj.metadata.name]

required contains ["spec.hosts", spec.hosts] if input.kind in {"VirtualService", "ServiceEntry"}

required contains ["spec.host", spec.host] if input.kind == "DestinationRule"

required contains ["spec.servers", spec.servers] if input.kind == "Gateway"

required contains [sprintf("%s.destination", [field]), rd.destination] if {
	some field, rd in route_destinations
	is_object(rd)
}

required contains [sprintf("%s.host", [field]), d.host] if {
	some field, d in destinations
}

required contains [sprintf("spec.subsets[%d].name", [i]), s.name] if {
	some i, s in dr_subsets
	is_object(s)
}

required contains [sprintf("spec.servers[%d].hosts", [i]), s.hosts] if {
	some i, s in gateway_servers
	is_object(s)
}

findings contains lib.error("MESH0701", "schema", field, msg) if {
	some [field, value, want] in expect
	not has_type(value, want)
	msg := sprintf("%s must be %s, not %s", [field, describe(want), type_of(value)])
}

findings contains lib.error("MESH0702", "schema", field, msg) if {
	some [field, value] in required_missing
	msg := sprintf("%s is required%s", [field, value])
}

required_missing contains [field, ""] if {
	some field in required_fields
	not present(field)
}

required_missing contains [field, " and must not be empty"] if {
	some [field, value] in required
	value == []
}

required_missing contains [field, " and must not be empty"] if {
	some [field, value] in required
	value == ""
}

# required_fields names what could be required for this object; present
# says which of them the object has.
required_fields contains "spec" if input.object

required_fields contains "metadata.name" if input.object

required_fields contains "spec.hosts" if {
	input.kind in {"VirtualService", "ServiceEntry"}
	is_object(spec)
}

required_fields contains "spec.host" if {
	input.kind == "DestinationRule"
	is_object(spec)
}

required_fields contains "spec.servers" if {
	input.kind == "Gateway"
	is_object(spec)
}

required_fields contains sprintf("%s.destination", [field]) if {
	some field, rd in route_destinations
	is_object(rd)
}

required_fields contains sprintf("%s.host", [field]) if {
	some field, d in destinations
}

required_fields contains sprintf("spec.subsets[%d].name", [i]) if {
	some i, s in dr_subsets
	is_object(s)
}

required_fields contains sprintf("spec.servers[%d].hosts", [i]) if {
	some i, s in gateway_servers
	is_object(s)
}

present(field) if {
	some [f, _] in required
	f == field
}

# Walks, each step guarded by type so a malformed level stops the walk.
vs_routes contains [kind, i, r] if {
	input.kind == "VirtualService"
	some kind in lib.route_kinds
	is_array(spec[kind])
	some i, r in spec[kind]
}

route_destinations[field] := rd if {
	some [kind, i, r] in vs_routes
	is_array(r.route)
	some j, rd in r.route
	field := sprintf("spec.%s[%d].route[%d]", [kind, i, j])
}

destinations[sprintf("%s.destination", [field])] := rd.destination if {
	some field, rd in route_destinations
	is_object(rd.destination)
}

destinations[sprintf("spec.http[%d].mirror", [i])] := r.mirror if {
	some ["http", i, r] in vs_routes
	is_object(r.mirror)
}

destinations[sprintf("spec.http[%d].mirrors[%d].destination", [i, j])] := m.destination if {
	some ["http", i, r] in vs_routes
	is_array(r.mirrors)
	some j, m in r.mirrors
	is_object(m.destination)
}

dr_subsets[i] := s if {
	input.kind == "DestinationRule"
	is_array(spec.subsets)
	some i, s in spec.subsets
}

gateway_servers[i] := s if {
	input.kind == "Gateway"
	is_array(spec.servers)
	some i, s in spec.servers
}

has_type(v, "object") if is_object(v)

has_type(v, "array") if is_array(v)

has_type(v, "string") if is_string(v)

has_type(v, "integer") if {
	is_number(v)
	floor(v) == v
}

has_type(v, "strings") if {
	is_array(v)
	every s in v {
		is_string(s)
	}
}

has_type(v, "labels") if {
	is_object(v)
	every k, s in v {
		is_string(k)
		is_string(s)
	}
}

describe("object") := "an object"

describe("array") := "a list"

describe("string") := "a string"

describe("integer") := "a whole number"

describe("strings") := "a list of strings"

describe("labels") := "a map of string labels"

type_of(v) := "a list containing something other than a string" if {
	is_array(v)
	some s in v
	not is_string(s)
} else := "a list" if is_array(v)
else := "a map with a value that is not a string" if {
	is_object(v)
	some s in v
	not is_string(s)
} else := "an object" if is_object(v)
else := sprintf("the string %q", [v]) if is_string(v)
else := sprintf("the number %v", [v]) if is_number(v)
else := sprintf("%v", [v])
