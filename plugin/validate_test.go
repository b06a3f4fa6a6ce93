package plugin

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// run executes the root command as main does and returns stdout, stderr
// (with main's "error: " line) and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	cmd := NewRootCommand(streams, "kubectl-mesh")
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil && !Silent(err) {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plugin -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./plugin -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestValidateOutputs(t *testing.T) {
	for _, format := range []string{"text", "json", "sarif"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, "", "validate", "-f", "testdata/validate/mesh-bad.yaml", "-o", format)
			if code != ExitFailed {
				t.Errorf("exit code %d, want %d; stderr: %s", code, ExitFailed, errOut)
			}
			if errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
			golden(t, "mesh-bad."+format, out)
		})
	}
}

func TestValidateJSONContract(t *testing.T) {
	out, _, _ := run(t, "", "validate", "-f", "testdata/validate/mesh-bad.yaml", "-o", "json")
	var report struct {
		Findings  []map[string]any `json:"findings"`
		Resources int              `json:"resources"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if report.Resources != 4 {
		t.Errorf("resources = %d, want 4", report.Resources)
	}
	for _, f := range report.Findings {
		for _, k := range []string{"severity", "category", "code", "kind", "namespace", "name", "field", "message"} {
			if _, ok := f[k].(string); !ok {
				t.Errorf("finding lacks string %q: %v", k, f)
			}
		}
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	out, _, _ = run(t, "", "validate", "-f", "testdata/validate/mesh-bad.yaml", "-o", "sarif")
	if err := json.Unmarshal([]byte(out), &sarif); err != nil {
		t.Fatal(err)
	}
	if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) != len(report.Findings) {
		t.Fatalf("sarif shape: %+v", sarif)
	}
	rules := sarif.Runs[0].Tool.Driver.Rules
	for _, r := range sarif.Runs[0].Results {
		if rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %s", r.RuleID, rules[r.RuleIndex].ID)
		}
		loc := r.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != "testdata/validate/mesh-bad.yaml" || loc.Region.StartLine == 0 {
			t.Errorf("location %+v", loc)
		}
	}
}

func TestValidateInputs(t *testing.T) {
	cases := []struct {
		name      string
		stdin     string
		args      []string
		code      int
		stdout    []string
		stderr    []string
		notStdout []string
		resources string
	}{
		{name: "List kind, all good", args: []string{"-f", "testdata/validate/mesh-good.yaml"}, code: 0,
			stdout: []string{"No problems found in 3 resources."}},
		{name: "directory without -R reads only its own files", args: []string{"-f", "testdata/validate/tree"}, code: 0,
			stdout: []string{"No problems found in 1 resource."}},
		{name: "directory with -R reads JSON below", args: []string{"-f", "testdata/validate/tree", "-R"}, code: 1,
			stdout: []string{"Error [MESH0301] VirtualService shop/productpage (testdata/validate/tree/sub/route.json:1)", "1 error, 0 warnings in 2 resources."}},
		{name: "stdin", stdin: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [x]\n  http:\n  - route:\n    - destination: {host: nowhere}\n",
			args: []string{"-f", "-"}, code: 1, stdout: []string{"Error [MESH0201] VirtualService default/x (<stdin>:1)"}},
		{name: "-n sets the namespace of objects without one", stdin: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [x]\n  http:\n  - route:\n    - destination: {host: nowhere}\n",
			args: []string{"-f", "-", "-n", "team"}, code: 1, stdout: []string{"VirtualService team/x", "nowhere.team.svc.cluster.local"}},
		{name: "config makes the weight sum a warning", args: []string{"-f", "testdata/validate/mesh-bad.yaml", "--config", "testdata/validate/config.yaml"}, code: 1,
			stdout: []string{"Warning [MESH0104]", "Error [MESH0301]"}},
		{name: "config with a bad severity names file and line", args: []string{"-f", "testdata/validate/mesh-bad.yaml", "--config", "testdata/validate/config-bad.yaml"}, code: 2,
			stderr: []string{"testdata/validate/config-bad.yaml:2: rules.MESH0104: severity \"fatal\" is not one of error, warning, off"}},
		{name: "invalid YAML names file, line and document", args: []string{"-f", "testdata/validate/invalid-yaml.yaml"}, code: 2,
			stderr: []string{"testdata/validate/invalid-yaml.yaml:11: document 2: invalid YAML"}},
		{name: "a document that is not an object", args: []string{"-f", "testdata/validate/not-object.yaml"}, code: 2,
			stderr: []string{"testdata/validate/not-object.yaml:5: document 2: not a Kubernetes object: a string instead of a mapping"}},
		{name: "unreadable path", args: []string{"-f", "testdata/validate/missing.yaml"}, code: 2,
			stderr: []string{"testdata/validate/missing.yaml: stat: no such file or directory"}},
		{name: "no -f", args: nil, code: 2, stderr: []string{"at least one -f PATH is required"}},
		{name: "bad output format", args: []string{"-f", "-", "-o", "yaml"}, code: 2, stderr: []string{"--output must be text, json or sarif"}},
		{name: "unknown flag", args: []string{"--bogus"}, code: 2, stderr: []string{"unknown flag: --bogus"}},
		{name: "missing kind", stdin: "apiVersion: v1\nmetadata: {name: x}\n", args: []string{"-f", "-"}, code: 2,
			stderr: []string{"<stdin>:1: document 1: not a Kubernetes object: kind is missing"}},
		{name: "invalid JSON", stdin: "{\"apiVersion\": \"v1\",\n \"kind\": }", args: []string{"-f", "-"}, code: 2,
			stderr: []string{"<stdin>:2: document 1: invalid JSON"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, tc.stdin, append([]string{"validate"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, "", "version", "-o", "json")
	var v VersionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.OPAVersion == "" || v.GoVersion == "" || v.Version == "" {
		t.Fatalf("version: code %d, %q", code, out)
	}
	out, _, _ = run(t, "", "version")
	if !strings.HasPrefix(out, "kubectl-mesh v") || !strings.Contains(out, "OPA "+v.OPAVersion) {
		t.Errorf("version text: %q", out)
	}
	_, errOut, code := run(t, "", "nonsense")
	if code != ExitUsage || !strings.Contains(errOut, `unknown command "nonsense" for "kubectl mesh"`) {
		t.Errorf("unknown command: code %d, %q", code, errOut)
	}
}
