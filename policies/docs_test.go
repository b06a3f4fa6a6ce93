package policies

import (
	"flag"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files (docs/checks.md)")

// TestChecksDoc keeps docs/checks.md equal to what the catalogue renders.
func TestChecksDoc(t *testing.T) {
	const path = "../docs/checks.md"
	got := ChecksMarkdown()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s is stale: run make docs", path)
	}
}

// TestCatalogueMatchesPolicies checks that every code a built-in policy
// can emit is documented, and every documented code is emitted somewhere.
func TestCatalogueMatchesPolicies(t *testing.T) {
	sources, err := BuiltinModules(false)
	if err != nil {
		t.Fatal(err)
	}
	codeRe := regexp.MustCompile(`"(MESH[0-9]{4})"`)
	emitted := map[string]string{}
	for name, src := range sources {
		for _, m := range codeRe.FindAllStringSubmatch(src, -1) {
			emitted[m[1]] = name
		}
	}
	documented := map[string]bool{}
	for _, c := range Checks() {
		if documented[c.Code] {
			t.Errorf("%s documented twice", c.Code)
		}
		documented[c.Code] = true
		if !validCategory(c.Category) || (c.Severity != SeverityError && c.Severity != SeverityWarning) || c.Name == "" || c.Bad == "" || c.Fix == "" {
			t.Errorf("%s is incompletely documented: %+v", c.Code, c)
		}
		if _, ok := emitted[c.Code]; !ok {
			t.Errorf("%s is documented but no policy emits it", c.Code)
		}
		if !strings.HasPrefix(c.Code, "MESH0"+map[string]string{"weight": "1", "host": "2", "subset": "3", "port": "4", "gateway": "5", "reference": "6", "schema": "7", "route": "8"}[c.Category]) {
			t.Errorf("%s does not carry its category's number (%s)", c.Code, c.Category)
		}
	}
	var missing []string
	for code, file := range emitted {
		if !documented[code] {
			missing = append(missing, code+" ("+file+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("emitted but not documented: %v", missing)
	}
}

func TestEveryCheckHasAClass(t *testing.T) {
	for _, c := range Checks() {
		switch c.Class {
		case ClassBreakage, ClassIntent, ClassSchema:
		default:
			t.Errorf("%s has class %q", c.Code, c.Class)
		}
		if c.Istio == "" {
			t.Errorf("%s does not say what Istio does", c.Code)
		}
	}
}
