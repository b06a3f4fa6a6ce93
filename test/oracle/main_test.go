package oracle

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	istiolog "istio.io/istio/pkg/log"
)

// productBin is the kubectl-mesh binary the tests hold against pilot:
// $MESH_BIN, or one built from the repository for this run.
var productBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	quietPilot()
	productBin = os.Getenv("MESH_BIN")
	if productBin == "" {
		dir, err := os.MkdirTemp("", "oracle-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		root, err := RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		productBin = filepath.Join(dir, "kubectl-mesh")
		cmd := exec.Command("go", "build", "-o", productBin, "./cmd/kubectl-mesh")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building kubectl-mesh: %v\n%s", err, out)
			return 2
		}
	}
	return m.Run()
}

// writeCase writes a manifest to a file of the test's own.
func writeCase(t *testing.T, manifest string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// quietPilot turns pilot's logging off: each mesh builds a discovery
// server, whose informers log every sync. MESH_ORACLE_LOG=1 keeps it.
func quietPilot() {
	if os.Getenv("MESH_ORACLE_LOG") != "" {
		return
	}
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
}
