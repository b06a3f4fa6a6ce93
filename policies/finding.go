package policies

import (
	"fmt"
	"sort"
)

// Severity of a finding.
type Severity string

// Severities, and Off, which a rule override uses to silence a code.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityOff     Severity = "off"
)

// ParseSeverity accepts error, warning and off.
func ParseSeverity(s string) (Severity, error) {
	switch Severity(s) {
	case SeverityError, SeverityWarning, SeverityOff:
		return Severity(s), nil
	}
	return "", fmt.Errorf("severity %q is not one of error, warning, off", s)
}

// Categories of findings (a stable contract, docs/checks.md).
var Categories = []string{"weight", "host", "port", "subset", "gateway", "reference", "schema", "route", "other"}

func validCategory(c string) bool {
	for _, v := range Categories {
		if v == c {
			return true
		}
	}
	return false
}

// Finding is one problem found in one object.
type Finding struct {
	Severity  Severity `json:"severity"`
	Category  string   `json:"category"`
	Code      string   `json:"code"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Field     string   `json:"field"`
	Message   string   `json:"message"`
	// File and Line locate the object when it was read from a file.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// IsError reports whether the finding fails a check.
func (f Finding) IsError() bool { return f.Severity == SeverityError }

// SortFindings orders findings by file, line, then code and field, so
// output is stable whatever order evaluation finished in.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Code < b.Code
	})
}

// CountErrors counts findings of severity error.
func CountErrors(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.IsError() {
			n++
		}
	}
	return n
}
