# Schema sanity: fields the checks read that have the wrong type, and
# fields Istio requires that are missing. The API server's CRD schema
# catches most of this on apply, but the offline validator sees files
# first, and the other policies skip what they cannot read, so the reason
# has to be said. The Go side lists the fields (input.facts.malformed,
# input.facts.missing) while walking the object once.

# METADATA
# title: Schema sanity
# custom:
#   kinds: [VirtualService, DestinationRule, Gateway, ServiceEntry, HTTPRoute, GRPCRoute]
#   facts: [malformed, missing]
package mesh.schema

import data.mesh.lib

findings contains lib.error("MESH0701", "schema", m.field, msg) if {
	some m in input.facts.malformed
	msg := sprintf("%s must be %s, not %s", [m.field, m.want, m.got])
}

findings contains lib.error("MESH0702", "schema", field, msg) if {
	some field in input.facts.missing
	msg := sprintf("%s is required and must not be empty", [field])
}
