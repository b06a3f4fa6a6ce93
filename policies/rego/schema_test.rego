package mesh.schema_test

import data.mesh.schema
import data.mesh.test_inputs as inputs

# Input constructors, shaped as policies/term.go builds the input.

input_of(kind, malformed, missing) := inputs.create(kind, {"malformed": malformed, "missing": missing})

wrong(field, want, got) := {"field": field, "want": want, "got": got}

test_well_formed_is_fine if {
	fs := schema.findings with input as input_of("VirtualService", [], [])
	count(fs) == 0
}

# MESH0701

test_malformed_field if {
	fs := schema.findings with input as input_of("VirtualService", [wrong("spec.http[0].route[0].weight", "a whole number", "\"90\"")], [])
	count(fs) == 1
	some f in fs
	f.code == "MESH0701"
	f.severity == "error"
	f.category == "schema"
	f.field == "spec.http[0].route[0].weight"
	f.message == "spec.http[0].route[0].weight must be a whole number, not \"90\""
}

test_each_malformed_field if {
	fs := schema.findings with input as input_of("DestinationRule", [wrong("spec.subsets", "a list", "an object"), wrong("spec.host", "a string", "null")], [])
	{f.field | some f in fs} == {"spec.subsets", "spec.host"}
	some f in fs
	f.message == "spec.host must be a string, not null"
}

# MESH0702

test_missing_field if {
	fs := schema.findings with input as input_of("VirtualService", [], ["spec.hosts"])
	count(fs) == 1
	some f in fs
	f.code == "MESH0702"
	f.severity == "error"
	f.category == "schema"
	f.field == "spec.hosts"
	f.message == "spec.hosts is required and must not be empty"
}

# Schema findings apply to every kind the Go side walks.
test_every_kind if {
	every kind in ["VirtualService", "DestinationRule", "Gateway", "ServiceEntry"] {
		fs := schema.findings with input as input_of(kind, [wrong("spec", "an object", "a list")], ["metadata.name"])
		{f.code | some f in fs} == {"MESH0701", "MESH0702"}
	}
}
