package policies

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// regoCoverageThreshold is the least line coverage, in percent, the Rego
// unit tests must reach over the built-in policies (test files excluded).
const regoCoverageThreshold = 90.0

// TestRegoPolicies runs the Rego unit tests (rego/*_test.rego) of the
// built-in policies, as `opa test --coverage` would, and checks their
// coverage of the policy files.
func TestRegoPolicies(t *testing.T) {
	ctx := context.Background()
	sources, err := BuiltinModules(true)
	if err != nil {
		t.Fatal(err)
	}
	modules := make(map[string]*ast.Module, len(sources))
	policyModules := map[string]*ast.Module{}
	testFiles := 0
	for name, src := range sources {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		modules[name] = m
		if strings.HasSuffix(name, "_test.rego") {
			testFiles++
		} else {
			policyModules[name] = m
		}
	}
	if testFiles == 0 {
		t.Fatal("no _test.rego files among the built-in policies")
	}

	store := inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false))
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)

	cov := cover.New()
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		SetStore(store).
		CapturePrintOutput(true).
		StackTraces(true).
		SetCoverageQueryTracer(cov).
		SetModules(modules)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		t.Fatalf("compiling the Rego tests: %v", err)
	}

	passed := 0
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i], results[j]
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		return a.Name < b.Name
	})
	var failed []string
	for _, r := range results {
		switch {
		case r.Error != nil:
			t.Errorf("%s.%s (%s): error: %v%s", r.Package, r.Name, r.Location, r.Error, printed(r))
		case r.Fail:
			t.Errorf("%s.%s (%s): FAIL%s", r.Package, r.Name, r.Location, printed(r))
			failed = append(failed, r.Package+"."+r.Name)
		case r.Skip:
			t.Logf("%s.%s (%s): skipped", r.Package, r.Name, r.Location)
		default:
			passed++
		}
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests ran")
	}
	if len(failed) > 0 {
		explainFailures(ctx, t, sources, failed)
	}

	// The report lists every file a test touched; count only the policies.
	report := cov.Report(policyModules)
	names := make([]string, 0, len(policyModules))
	for name := range policyModules {
		names = append(names, name)
	}
	sort.Strings(names)
	covered, notCovered := 0, 0
	for _, name := range names {
		fr := report.Files[name]
		if fr == nil {
			t.Errorf("no coverage report for %s", name)
			continue
		}
		covered += fr.CoveredLines
		notCovered += fr.NotCoveredLines
		var lines []string
		for _, rng := range fr.NotCovered {
			l := fmt.Sprint(rng.Start.Row)
			if rng.End.Row != rng.Start.Row {
				l = fmt.Sprintf("%d-%d", rng.Start.Row, rng.End.Row)
			}
			if len(lines) == 0 || lines[len(lines)-1] != l {
				lines = append(lines, l)
			}
		}
		t.Logf("coverage %-32s %6.1f%% (%d/%d lines)%s", name, fr.Coverage, fr.CoveredLines, fr.CoveredLines+fr.NotCoveredLines, notCoveredSuffix(lines))
	}
	total := 0.0
	if covered+notCovered > 0 {
		total = 100 * float64(covered) / float64(covered+notCovered)
	}
	t.Logf("coverage total %.1f%% (%d/%d lines), %d of %d tests passed", total, covered, covered+notCovered, passed, len(results))
	fmt.Printf("rego coverage: %.1f%% (%d tests passed)\n", total, passed)
	if total < regoCoverageThreshold {
		t.Errorf("Rego coverage %.1f%% is below %.0f%%", total, regoCoverageThreshold)
	}
}

// explainFailures runs the failed tests again with tracing, which coverage
// excludes, and logs the expression each failed at with its local values.
func explainFailures(ctx context.Context, t *testing.T, sources map[string]string, failed []string) {
	t.Helper()
	modules := make(map[string]*ast.Module, len(sources))
	for name, src := range sources {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		modules[name] = m
	}
	names := make([]string, len(failed))
	for i, name := range failed {
		names[i] = regexp.QuoteMeta(name)
	}
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		EnableTracing(true).
		Filter("^("+strings.Join(names, "|")+")$").
		SetModules(modules).
		RunTests(ctx, nil)
	if err != nil {
		t.Logf("tracing the failed Rego tests: %v", err)
		return
	}
	var out strings.Builder
	if err := (tester.PrettyReporter{Output: &out, FailureLine: true, LocalVars: true}).Report(ch); err != nil {
		t.Logf("reporting the failed Rego tests: %v", err)
	}
	t.Logf("failed Rego tests, traced:\n%s", out.String())
}

func printed(r *tester.Result) string {
	if len(r.Output) == 0 {
		return ""
	}
	return "\n" + strings.TrimRight(string(r.Output), "\n")
}

func notCoveredSuffix(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return ", not covered: lines " + strings.Join(lines, ", ")
}

// TestRegoFormatted checks that every built-in .rego file, tests included,
// is formatted as `opa fmt` formats Rego v1.
func TestRegoFormatted(t *testing.T) {
	sources, err := BuiltinModules(true)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		src := sources[name]
		got, err := format.SourceWithOpts(name, []byte(src), format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Errorf("formatting %s: %v", name, err)
			continue
		}
		if string(got) != src {
			t.Errorf("%s is not formatted as opa fmt would (first difference at line %d); run opa fmt -w on it", name, firstDifferentLine(src, string(got)))
		}
	}
}

func firstDifferentLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}
