package policies

import (
	"fmt"
	"strings"
)

// Location is "file:line" of a finding, or "" when it has none.
func (f Finding) Location() string {
	switch {
	case f.File == "":
		return ""
	case f.Line > 0:
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

// Text is the one-line form shared by `validate -o text` and webhook denials:
// Error [MESH0301] VirtualService default/reviews (apps/reviews.yaml:34) spec...: message
func (f Finding) Text() string {
	var b strings.Builder
	if f.IsError() {
		b.WriteString("Error")
	} else {
		b.WriteString("Warning")
	}
	fmt.Fprintf(&b, " [%s] %s %s/%s", f.Code, f.Kind, f.Namespace, f.Name)
	if loc := f.Location(); loc != "" {
		fmt.Fprintf(&b, " (%s)", loc)
	}
	if f.Field != "" {
		fmt.Fprintf(&b, " %s", f.Field)
	}
	fmt.Fprintf(&b, ": %s", f.Message)
	return b.String()
}
