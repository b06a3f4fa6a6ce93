package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	spec := meshgen.Spec{Services: 20, Namespaces: 3, ErrorEvery: 5}
	for _, tc := range []struct {
		name, mode string
		cases      int
		out        string
		wantErr    bool
		want       string // a line the output has
	}{
		{name: "template", mode: "template", out: "tmpl.yaml", want: "name: svc-00019"},
		{name: "realistic", mode: "realistic", out: "fleet.yaml", want: "name: istio-system"},
		{name: "cases", mode: "realistic", cases: 2, out: "cases", want: "# meshgen case 0002"},
		{name: "cases need a directory", mode: "realistic", cases: 2, out: "-", wantErr: true},
		{name: "cases need realistic", mode: "template", cases: 2, out: "x", wantErr: true},
		{name: "unknown mode", mode: "random", out: "y", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if out != "-" {
				out = filepath.Join(dir, out)
			}
			err := run(tc.mode, spec, 3, 0.1, false, tc.cases, out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			if tc.cases > 0 {
				out = filepath.Join(out, "case-0002.yaml")
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.want) {
				t.Errorf("no %q in %s", tc.want, out)
			}
		})
	}
}
