# Shared helpers of the kubectl-mesh policies. The Go side walks each
# object once and hands the policies compact facts (input.facts): the
# destinations and weighted routes of a VirtualService with their field
# paths, what each host resolves to, the gateways named, and fields of the
# wrong type. See docs/policies.md for the whole input document.
package mesh.lib

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

# join_or lists names for a message, or says there are none.
join_or(names, none) := concat(", ", names) if count(names) > 0

else := none

# namespace_name names a namespace of input.facts.reach for a message: an
# empty name is every namespace not named elsewhere.
namespace_name(ns) := sprintf("namespace %s", [ns]) if ns != ""

else := "any other namespace (it is exported to all)"
