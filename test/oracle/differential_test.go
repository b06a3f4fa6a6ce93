package oracle

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDifferential runs generated meshes shaped like real fleets, with
// Gateway API routes among them, through pilot and through kubectl-mesh,
// and requires them to agree on every breakage check. MESH_ORACLE_CASES names a folder of case-*.yaml files;
// without it, MESH_ORACLE_N cases (default 200) are generated from
// MESH_ORACLE_SEED (default 1) by hack/genmesh. Each disagreement is
// printed as a minimal manifest that still shows it.
func TestDifferential(t *testing.T) {
	dir := os.Getenv("MESH_ORACLE_CASES")
	if dir == "" {
		dir = generateCases(t, envInt(t, "MESH_ORACLE_SEED", 1), envInt(t, "MESH_ORACLE_N", 200))
	}
	files, err := filepath.Glob(filepath.Join(dir, "case-*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case-*.yaml in %s (%v)", dir, err)
	}
	// kubectl-mesh runs as a process per case: those runs go on beside
	// pilot's, which take the test's own goroutine.
	validated := validateAll(files)
	var virtualServices, broken, httpRoutes, routesBroken, agreed, minimized int
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			manifest, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r := <-validated[file]
			if r.err != nil {
				t.Fatal(r.err)
			}
			ds, v, routes := differ(t, string(manifest), r.findings)
			httpRoutes += len(routes)
			for _, rt := range routes {
				routesBroken += len(rt.Broken)
			}
			if v != nil {
				virtualServices += len(v.VirtualServices)
				for _, vs := range v.VirtualServices {
					broken += len(vs.Broken)
				}
			}
			if len(ds) == 0 {
				agreed++
				return
			}
			for _, d := range ds {
				// Minimizing costs a run of both sides per document: the
				// first few disagreements get it, the rest name their file.
				if minimized < 5 {
					minimized++
					t.Errorf("%s\nminimal manifest (from %s):\n%s", d, file, minimize(t, string(manifest), d))
				} else {
					t.Errorf("%s (in %s)", d, file)
				}
			}
		})
	}
	t.Logf("%d of %d cases agree; %d VirtualServices, %d places pilot shows broken; %d HTTPRoutes, %d places of them pilot shows broken", agreed, len(files), virtualServices, broken, httpRoutes, routesBroken)
}

type validation struct {
	findings []Finding
	err      error
}

// validateAll runs kubectl-mesh validate over every file, two at a time.
func validateAll(files []string) map[string]chan validation {
	out := make(map[string]chan validation, len(files))
	for _, f := range files {
		out[f] = make(chan validation, 1)
	}
	work := make(chan string)
	for range 2 {
		go func() {
			for f := range work {
				fs, err := Validate(productBin, f)
				out[f] <- validation{fs, err}
			}
		}()
	}
	go func() {
		for _, f := range files {
			work <- f
		}
		close(work)
	}()
	return out
}

// differ holds one manifest against the oracle. A manifest pilot refuses
// must be refused by kubectl-mesh too (a schema finding).
func differ(t *testing.T, manifest string, findings []Finding) ([]Disagreement, *Verdict, []*Route) {
	t.Helper()
	m, err := Parse([]byte(manifest))
	var perr *ParseError
	if errors.As(err, &perr) {
		for _, f := range findings {
			if f.Category == "schema" && f.Severity == "error" {
				return nil, nil, nil
			}
		}
		return []Disagreement{{Site: Site{Field: "(manifest)"}, Oracle: "pilot refuses it: " + perr.Error()}}, nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	v := Evaluate(t, m)
	ds := Compare(v, findings)
	var routes []*Route
	if len(m.Routes) > 0 {
		routes = v.Routes(t, m)
		ds = append(ds, CompareRoutes(routes, findings)...)
	}
	return ds, v, routes
}

// minimize drops documents one at a time while the disagreement stays.
func minimize(t *testing.T, manifest string, want Disagreement) string {
	t.Helper()
	docs := splitDocs(manifest)
	same := func(candidate []string) bool {
		text := strings.Join(candidate, "\n---\n")
		file := filepath.Join(t.TempDir(), "min.yaml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		findings, err := Validate(productBin, file)
		if err != nil {
			t.Fatal(err)
		}
		ds, _, _ := differ(t, text, findings)
		for _, d := range ds {
			if d.Site == want.Site && d.Oracle == want.Oracle && strings.Join(d.Product, "\n") == strings.Join(want.Product, "\n") {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(docs); {
		candidate := append(append([]string{}, docs[:i]...), docs[i+1:]...)
		if same(candidate) {
			docs = candidate
			continue
		}
		i++
	}
	return strings.Join(docs, "\n---\n")
}

func splitDocs(manifest string) []string {
	var out []string
	for _, d := range strings.Split("\n"+manifest, "\n---") {
		if body := strings.TrimSpace(d); body != "" && !onlyComments(body) {
			out = append(out, strings.TrimPrefix(d, "\n"))
		}
	}
	return out
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// generateCases writes n cases with hack/genmesh.
func generateCases(t *testing.T, seed, n int) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "./hack/genmesh", "-cases", strconv.Itoa(n), "-seed", strconv.Itoa(seed), "-o", dir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genmesh: %v\n%s", err, out)
	}
	return dir
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a count", name, s)
	}
	return n
}
