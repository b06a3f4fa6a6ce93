package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestWrite(t *testing.T) {
	findings := []policies.Finding{
		{Severity: policies.SeverityError, Category: "subset", Code: "MESH0301", Kind: "VirtualService", Namespace: "bookinfo", Name: "reviews",
			Field: "spec.http[0].route[1].destination.subset", Message: `subset "v3" is not defined`, File: "apps/reviews.yaml", Line: 12},
		{Severity: policies.SeverityWarning, Category: "weight", Code: "MESH0104", Kind: "VirtualService", Namespace: "bookinfo", Name: "ratings",
			Field: "spec.http[0].route", Message: "a single destination has weight 50", File: policies.StdinName, Line: 3},
		{Severity: policies.SeverityError, Category: "other", Code: "ACME0001", Kind: "DestinationRule", Namespace: "shop", Name: "cart",
			Message: "owner label missing"},
	}
	cases := []struct {
		name   string
		format string
		report Report
	}{
		{"findings.txt", "text", Report{Findings: findings, Resources: 7}},
		{"clean.txt", "text", Report{Resources: 1}},
		{"findings.json", "json", Report{Findings: findings, Resources: 7}},
		{"clean.json", "json", Report{Resources: 0}},
		{"findings.sarif", "sarif", Report{Findings: findings, Resources: 7}},
		{"clean.sarif", "sarif", Report{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Write(&out, tc.format, tc.report, "v1.2.3"); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s differs from its golden file:\n%s", tc.name, out.String())
			}
		})
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "yaml", Report{}, ""); err == nil {
		t.Fatal("Write accepted format yaml")
	}
	for _, f := range Formats() {
		if err := Write(&bytes.Buffer{}, f, Report{}, ""); err != nil {
			t.Errorf("format %s: %v", f, err)
		}
	}
}
