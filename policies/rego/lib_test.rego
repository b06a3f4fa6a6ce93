package mesh.lib_test

import data.mesh.lib

test_error if {
	lib.error("MESH0101", "weight", "spec.http[0].route", "bad") == {
		"code": "MESH0101",
		"severity": "error",
		"category": "weight",
		"field": "spec.http[0].route",
		"message": "bad",
	}
}

test_warning if {
	lib.warning("MESH0105", "weight", "spec.http[0].route[0].weight", "odd") == {
		"code": "MESH0105",
		"severity": "warning",
		"category": "weight",
		"field": "spec.http[0].route[0].weight",
		"message": "odd",
	}
}

test_join_or if {
	lib.join_or(["a", "b"], "none") == "a, b"
	lib.join_or(["a"], "none") == "a"
	lib.join_or([], "none") == "none"
}
