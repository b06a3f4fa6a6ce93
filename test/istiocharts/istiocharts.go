// Package istiocharts finds Istio's Helm charts for tests: the
// manifests/charts folder of the Go module istio.io/istio in the module
// cache, as hack/istio-charts.sh prints it. Nothing of Istio's is kept in
// this repository.
package istiocharts

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the charts folder; root is the repository's root.
func Dir(t testing.TB, root string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "hack", "istio-charts.sh")).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("hack/istio-charts.sh: %s", msg)
	}
	return strings.TrimSpace(string(out))
}
