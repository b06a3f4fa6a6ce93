package policies

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// builtinPolicies holds the Rego rules and their tests.
//
//go:embed rego/*.rego
var builtinPolicies embed.FS

// findingsRule is the rule every policy package defines to report findings.
const findingsRule = "findings"

// Settings are the knobs shared by the validator and the webhook.
type Settings struct {
	ClusterDomain string
	RootNamespace string
	// Rules overrides the severity of codes: error, warning or off.
	Rules map[string]Severity
}

func (s Settings) withDefaults() Settings {
	if s.ClusterDomain == "" {
		s.ClusterDomain = DefaultClusterDomain
	}
	if s.RootNamespace == "" {
		s.RootNamespace = DefaultRootNamespace
	}
	return s
}

// Options configure an Engine.
type Options struct {
	Settings Settings
	// PolicyDirs hold extra *.rego files; each package defining a
	// `findings` set contributes findings of the same shape as the built-in
	// ones. Files ending in _test.rego are skipped.
	PolicyDirs []string
	// DecisionCacheSize bounds the decision cache (cache.go);
	// DefaultDecisionCacheSize when 0. NoDecisionCache evaluates every
	// object itself.
	DecisionCacheSize int
	NoDecisionCache   bool
	// VerifyDecisionCache evaluates the tokenized input as well on every
	// miss and fails the review when its verdict differs from the
	// object's: the tests' check of tokenInvariant.
	VerifyDecisionCache bool
}

// Engine evaluates the policies. It is built once (parsing and compiling)
// and is safe for concurrent use.
type Engine struct {
	settings Settings
	// settingsTerm is input.settings, built once.
	settingsTerm *ast.Term
	compiler     *ast.Compiler
	// builtin lists, per kind and operation, the built-in packages that
	// apply to it (their METADATA says which); they read only input.facts.
	builtin map[scope][]gatedPackage
	// queries holds the compiled query of each set of built-in packages a
	// review needed (queryKey to *findingsQuery), compiled on first use:
	// with the packages gated by facts there are too many sets to compile
	// up front for a CLI run that may review one object.
	queries sync.Map
	prepare sync.Mutex
	// custom, when there are user policies, evaluates theirs with the
	// objects in the input as well; customCached those that read only the
	// facts, through the decision cache.
	custom       *findingsQuery
	customCached *cachedQuery
	store        storage.Store
	packages     []string
	// cache holds the decisions of the packages tokenInvariant accepts
	// (cached, with the facts each reads); nil when disabled.
	cache  *decisionCache
	cached map[string]readSet
	verify bool
	// uncached says why each built-in or user package is evaluated per
	// object.
	uncached map[string]string
}

// findingsQuery collects the findings sets of some packages, one variable
// each. It is compiled once and evaluated by OPA's evaluator (topdown)
// directly: the rego package's per-evaluation setup (metrics, a goroutine
// watching the context, results converted to Go values) cost as much as
// evaluating a small package.
type findingsQuery struct {
	body ast.Body
	qc   ast.QueryCompiler
	vars []ast.Var
}

// gatedPackage is a built-in package and the facts its rules iterate: a
// package whose every findings rule iterates one of input.facts' lists
// named in METADATA (custom facts) can find nothing when they are all
// empty, so it is not evaluated then. NewEngine checks the claim against
// the compiled rules.
type gatedPackage struct {
	path  string
	facts []string
}

// queryKey names the prepared query of a set of packages: bit i of mask
// stands for package i of the scope's list.
type queryKey struct {
	scope
	mask uint64
}

// BuiltinModules returns the embedded policy sources by file name; with
// tests set, the _test.rego files are included.
func BuiltinModules(tests bool) (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(builtinPolicies, "rego", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		if !tests && strings.HasSuffix(path, "_test.rego") {
			return nil
		}
		b, err := builtinPolicies.ReadFile(path)
		if err != nil {
			return err
		}
		out["policies/"+path] = string(b)
		return nil
	})
	return out, err
}

func loadPolicyDir(dir string, into map[string]string) (err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading policy directory: %w", err)
	}
	found := false
	defer func() {
		if !found && err == nil {
			err = fmt.Errorf("policy directory %s holds no .rego files", dir)
		}
	}()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".rego") || strings.HasSuffix(name, "_test.rego") {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading policy: %w", err)
		}
		into[path] = string(b)
		found = true
	}
	return nil
}

// NewEngine compiles the built-in policies and those of opts.PolicyDirs and
// prepares the query that collects every package's findings.
func NewEngine(ctx context.Context, opts Options) (*Engine, error) {
	sources, err := BuiltinModules(false)
	if err != nil {
		return nil, fmt.Errorf("loading built-in policies: %w", err)
	}
	builtinNames := map[string]bool{}
	for name := range sources {
		builtinNames[name] = true
	}
	for _, dir := range opts.PolicyDirs {
		if err := loadPolicyDir(dir, sources); err != nil {
			return nil, err
		}
	}
	modules := make(map[string]*ast.Module, len(sources))
	builtinModules := map[string]*ast.Module{}
	customModules := map[string]*ast.Module{}
	for name, src := range sources {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return nil, fmt.Errorf("parsing policy: %w", err)
		}
		modules[name] = m
		if builtinNames[name] {
			builtinModules[name] = m
		} else {
			customModules[name] = m
		}
	}
	compiler := ast.NewCompiler().WithStrict(true)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("compiling policies: %w", compiler.Errors)
	}
	e := &Engine{settings: opts.Settings.withDefaults(), compiler: compiler, builtin: map[scope][]gatedPackage{}, store: inmem.New(),
		cached: map[string]readSet{}, uncached: map[string]string{}, verify: opts.VerifyDecisionCache}
	e.settingsTerm = settingsTerm(e.settings)
	builtinPkgs := findingPackages(builtinModules)
	scopes := packageScopes(builtinModules)
	for _, p := range builtinPkgs {
		if err := checkFactGates(compiler, p, scopes[p].facts); err != nil {
			return nil, err
		}
	}
	for _, kind := range reviewedKinds {
		for _, op := range []Operation{OperationCreate, OperationUpdate, OperationDelete} {
			var pkgs []gatedPackage
			for _, p := range builtinPkgs {
				if scopes[p].applies(kind, op) {
					pkgs = append(pkgs, gatedPackage{path: p, facts: scopes[p].facts})
				}
			}
			if len(pkgs) > 64 {
				return nil, fmt.Errorf("%d policy packages apply to %s: at most 64 can", len(pkgs), kind)
			}
			if len(pkgs) > 0 {
				e.builtin[scope{kind, op}] = pkgs
			}
		}
	}
	e.packages = builtinPkgs
	for _, p := range builtinPkgs {
		if why := tokenInvariant(compiler, p); why != "" {
			e.uncached[p] = why
		} else {
			e.cached[p] = newReadSet(compiler, p)
		}
	}
	if !opts.NoDecisionCache {
		e.cache = newDecisionCache(opts.DecisionCacheSize, policyLiterals(compiler), sourcesVersion(sources))
	}
	if len(customModules) > 0 {
		var customPkgs []string
		for _, p := range findingPackages(customModules) {
			if !containsString(builtinPkgs, p) {
				customPkgs = append(customPkgs, p)
			}
		}
		if len(customPkgs) == 0 {
			return nil, fmt.Errorf("no policy in %s defines a %s set", strings.Join(opts.PolicyDirs, ", "), findingsRule)
		}
		e.packages = append(e.packages, customPkgs...)
		// User packages that read only the facts are answered by the
		// decision cache like the built-in ones; the others get the
		// objects as written too, and are evaluated per object.
		var cachedPkgs, directPkgs []string
		reads := readSet{fields: map[string]bool{}}
		for _, p := range customPkgs {
			if why := tokenInvariant(compiler, p); why != "" || e.cache == nil {
				e.uncached[p] = why
				directPkgs = append(directPkgs, p)
			} else {
				e.cached[p] = newReadSet(compiler, p)
				reads = reads.union(e.cached[p])
				cachedPkgs = append(cachedPkgs, p)
			}
		}
		q, err := compileQuery(compiler, cachedPkgs)
		if err != nil {
			return nil, err
		}
		if q != nil {
			e.customCached = &cachedQuery{q: q, id: customCacheID, reads: reads}
		}
		if e.custom, err = compileQuery(compiler, directPkgs); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// compileQuery is compileFindings, nil for no packages.
func compileQuery(compiler *ast.Compiler, packages []string) (*findingsQuery, error) {
	if len(packages) == 0 {
		return nil, nil
	}
	return compileFindings(compiler, packages)
}

// customCacheID stands for the user packages in decision keys (a
// built-in package's is its bit in its scope's list).
const customCacheID = 1 << 63

// readSet is what a package reads of input.facts (see factsRead).
type readSet struct {
	fields map[string]bool
	all    bool
}

func newReadSet(compiler *ast.Compiler, pkg string) readSet {
	fields, all := factsRead(compiler, pkg)
	return readSet{fields: fields, all: all}
}

func (r readSet) union(o readSet) readSet {
	out := readSet{fields: map[string]bool{}, all: r.all || o.all}
	for f := range r.fields {
		out.fields[f] = true
	}
	for f := range o.fields {
		out.fields[f] = true
	}
	return out
}

// has reports whether the field of input.facts is read.
func (r readSet) has(field string) bool { return r.all || r.fields[field] }

// cachedQuery is a query the decision cache answers for: one built-in
// package, or the user packages that pass tokenInvariant.
type cachedQuery struct {
	q     *findingsQuery
	id    uint64
	reads readSet
}

// sourcesVersion hashes the policies' sources: the version of the rules
// in decision keys.
func sourcesVersion(sources map[string]string) uint64 {
	h := fnv.New64a()
	for _, n := range slices.Sorted(maps.Keys(sources)) {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(sources[n]))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Uncached lists the packages the decision cache does not answer for, and
// why.
func (e *Engine) Uncached() map[string]string {
	out := make(map[string]string, len(e.uncached))
	for k, v := range e.uncached {
		out[k] = v
	}
	return out
}

// CacheStats reports what the decision cache did so far.
func (e *Engine) CacheStats() CacheStats {
	if e.cache == nil {
		return CacheStats{}
	}
	return e.cache.snapshot()
}

// reviewedKinds are the kinds the built-in policies review.
// A Gateway API Gateway is reviewed as kubeGatewayScope.
var reviewedKinds = [...]string{KindVirtualService, KindDestinationRule, KindGateway, KindServiceEntry, KindHTTPRoute, KindGRPCRoute,
	KindService, KindReferenceGrant, kubeGatewayScope}

// scope is a kind and an operation under review.
type scope struct {
	kind string
	op   Operation
}

// packageScope is what a package's METADATA custom kinds and operations
// say it reviews; empty lists mean every kind or operation. facts names
// the lists of input.facts the package's rules iterate (see gatedPackage).
type packageScope struct {
	kinds, operations, facts []string
}

func (p packageScope) applies(kind string, op Operation) bool {
	return (len(p.kinds) == 0 || containsString(p.kinds, kind)) &&
		(len(p.operations) == 0 || containsString(p.operations, string(op)))
}

// packageScopes reads the package annotations: evaluating only the
// packages that apply to an object's kind saves each other package's
// fixed cost (about 5 us) on every review.
func packageScopes(modules map[string]*ast.Module) map[string]packageScope {
	out := map[string]packageScope{}
	for _, m := range modules {
		for _, a := range m.Annotations {
			if a.Scope != "package" {
				continue
			}
			ps := out[m.Package.Path.String()]
			ps.kinds = append(ps.kinds, anyStrings(a.Custom["kinds"])...)
			ps.operations = append(ps.operations, anyStrings(a.Custom["operations"])...)
			ps.facts = append(ps.facts, anyStrings(a.Custom["facts"])...)
			out[m.Package.Path.String()] = ps
		}
	}
	return out
}

func anyStrings(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// checkFactGates verifies what a package's METADATA custom facts claims:
// every rule defining findings has, outside negations, comprehensions and
// every, a reference into one of those input.facts lists (an iteration
// or a lookup such as input.facts.gateways[i]), so no rule can succeed
// while they are all empty.
func checkFactGates(compiler *ast.Compiler, pkg string, facts []string) error {
	if len(facts) == 0 {
		return nil
	}
	for _, name := range facts {
		if _, ok := (&Facts{}).nonEmpty(name); !ok {
			return fmt.Errorf("package %s: METADATA custom facts names %q, which is no list of input.facts", pkg, name)
		}
	}
	path, err := ast.ParseRef(pkg + "." + findingsRule)
	if err != nil {
		return fmt.Errorf("package %s: %w", pkg, err)
	}
	for _, r := range compiler.GetRulesExact(path) {
		if !iteratesFacts(r.Body, facts) {
			return fmt.Errorf("package %s: METADATA custom facts says its rules iterate input.facts.%s, but the rule at %s does not", pkg, strings.Join(facts, " or input.facts."), r.Location)
		}
	}
	return nil
}

func iteratesFacts(body ast.Body, facts []string) bool {
	found := false
	for _, expr := range body {
		if expr.Negated {
			continue
		}
		ast.NewGenericVisitor(func(x any) bool {
			switch x := x.(type) {
			case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension, *ast.Every:
				return true // may succeed over an empty list
			case ast.Ref:
				if len(x) >= 4 && x[0].Equal(ast.InputRootDocument) && x[1].Equal(ast.InternedTerm("facts")) {
					if name, ok := x[2].Value.(ast.String); ok && containsString(facts, string(name)) {
						found = true
					}
				}
			}
			return found
		}).Walk(expr)
		if found {
			return true
		}
	}
	return false
}

// compileFindings compiles the query collecting the findings of packages.
func compileFindings(compiler *ast.Compiler, packages []string) (*findingsQuery, error) {
	q := &findingsQuery{}
	var src strings.Builder
	for i, pkg := range packages {
		if i > 0 {
			src.WriteString("; ")
		}
		v := ast.Var(fmt.Sprintf("findings%d", i))
		q.vars = append(q.vars, v)
		// A partial set is defined, empty, when no rule adds to it.
		fmt.Fprintf(&src, "%s = %s.%s", v, pkg, findingsRule)
	}
	body, err := ast.ParseBody(src.String())
	if err != nil {
		return nil, fmt.Errorf("preparing policy query: %w", err)
	}
	q.qc = compiler.QueryCompiler()
	if q.body, err = q.qc.Compile(body); err != nil {
		return nil, fmt.Errorf("preparing policy query: %w", err)
	}
	return q, nil
}

// noMetrics stands in for the metrics registry topdown would otherwise
// make, and time, on every evaluation; nothing reads them.
var noMetrics = metrics.NoOp()

// eval evaluates q with input and hands each finding term to fn.
func (e *Engine) eval(ctx context.Context, q *findingsQuery, input *ast.Term, fn func(*ast.Term)) error {
	return e.evalPackages(ctx, q, input, func(_ int, t *ast.Term) { fn(t) })
}

// evalPackages is eval, telling fn which of q's packages (in the order
// they were compiled) found each term.
func (e *Engine) evalPackages(ctx context.Context, q *findingsQuery, input *ast.Term, fn func(int, *ast.Term)) error {
	txn, err := e.store.NewTransaction(ctx)
	if err != nil {
		return err
	}
	defer e.store.Abort(ctx, txn)
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	return topdown.NewQuery(q.body).
		WithQueryCompiler(q.qc).
		WithCompiler(e.compiler).
		WithStore(e.store).
		WithTransaction(txn).
		WithInput(input).
		WithCancel(cancel).
		WithMetrics(noMetrics).
		WithIndexing(true).
		WithEarlyExit(true).
		Iter(ctx, func(qr topdown.QueryResult) error {
			for i, v := range q.vars {
				set, ok := qr[v].Value.(ast.Set)
				if !ok {
					return fmt.Errorf("%s is not a set", v)
				}
				set.Foreach(func(t *ast.Term) { fn(i, t) })
			}
			return nil
		})
}

// findingPackages lists, sorted, the packages that define findings.
func findingPackages(modules map[string]*ast.Module) []string {
	seen := map[string]bool{}
	for _, m := range modules {
		for _, r := range m.Rules {
			if r.Head.Name.String() == findingsRule || (len(r.Head.Reference) > 0 && r.Head.Reference[0].Value.String() == findingsRule) {
				seen[m.Package.Path.String()] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Settings returns the settings the engine resolves hosts with.
func (e *Engine) Settings() Settings { return e.settings }

// Packages lists the policy packages that contribute findings.
func (e *Engine) Packages() []string { return append([]string(nil), e.packages...) }

// Review checks one object against the inventory. Objects of kinds the
// policies do not review give no findings.
func (e *Engine) Review(ctx context.Context, r Review, inv Inventory) ([]Finding, error) {
	return e.review(ctx, r, inv, nil)
}

func (e *Engine) review(ctx context.Context, r Review, inv Inventory, hosts *hostCache) ([]Finding, error) {
	return e.reviewInto(ctx, r, inv, hosts, &keeper{})
}

// reviewInto reviews r, handing findings to k (see ReviewLimit).
func (e *Engine) reviewInto(ctx context.Context, r Review, inv Inventory, hosts *hostCache, k *keeper) ([]Finding, error) {
	obj := r.subject()
	if obj == nil {
		return nil, errors.New("review has no object")
	}
	if !r.Reviewed() {
		return nil, nil
	}
	facts := buildFacts(r, inv, e.settings, hosts)
	// User policies review the kinds they always did, not the Services
	// and Gateway API objects reviewed for the routes that use them.
	custom, customCached := e.custom, e.customCached
	if !obj.IsReviewed() {
		custom, customCached = nil, nil
	}
	add := func(t *ast.Term) {
		if f := e.finding(t, obj); f.Severity != SeverityOff {
			k.add(f)
		}
	}
	sc := scope{scopeKind(obj), r.Operation}
	var input *ast.Term
	var err error
	mask := e.activePackages(sc, facts)
	if mask != 0 || customCached != nil {
		if input, err = inputTerm(r, facts, e.settingsTerm, false); err != nil {
			return nil, fmt.Errorf("building policy input for %s: %w", obj.Ref(), err)
		}
	}
	if mask != 0 {
		if err := e.evalBuiltin(ctx, sc, mask, input, add); err != nil {
			return nil, fmt.Errorf("evaluating policies for %s: %w", obj.Ref(), err)
		}
	}
	if (custom != nil || customCached != nil) && k.full() {
		k.omitted.Stopped = true
	} else if customCached != nil {
		if err := e.evalCached(ctx, sc, customCached, input, add); err != nil {
			return nil, fmt.Errorf("evaluating policies for %s: %w", obj.Ref(), err)
		}
	}
	if custom != nil && k.full() {
		k.omitted.Stopped = true
	} else if custom != nil {
		input, err := inputTerm(r, facts, e.settingsTerm, true)
		if err != nil {
			return nil, fmt.Errorf("building policy input for %s: %w", obj.Ref(), err)
		}
		if err := e.eval(ctx, custom, input, add); err != nil {
			return nil, fmt.Errorf("evaluating policies for %s: %w", obj.Ref(), err)
		}
	}
	// Query bindings come back as a map: sort for stable messages.
	SortFindings(k.out)
	return k.out, nil
}

// activePackages is the mask of the scope's built-in packages that the
// facts do not rule out (bit i for package i of the scope's list).
func (e *Engine) activePackages(sc scope, f *Facts) uint64 {
	var mask uint64
	for i, p := range e.builtin[sc] {
		if f.anyNonEmpty(p.facts) {
			mask |= 1 << i
		}
	}
	return mask
}

// pendingDecision is a package the decision cache did not know for a key:
// its verdict on the object is kept once evaluated.
type pendingDecision struct {
	pkg int
	key decisionKey
}

// evalBuiltin evaluates the packages of mask in one query, but for those
// the decision cache knows find nothing for input: their tokenized facts
// (those each reads) are the key. A package missing from the cache is
// evaluated on the object itself and its verdict kept for the key:
// tokenInvariant makes it the verdict of every input with that key. One
// query for all keeps the evaluator's fixed cost to one per review.
func (e *Engine) evalBuiltin(ctx context.Context, sc scope, mask uint64, input *ast.Term, add func(*ast.Term)) error {
	pkgs := e.builtin[sc]
	var pending []pendingDecision
	if e.cache != nil && e.cache.useKeys() {
		tk := e.cache.newTokenizer()
		for i, p := range pkgs {
			reads, cached := e.cached[p.path]
			if mask&(1<<i) == 0 || !cached {
				continue
			}
			key, keyed, known, clean := e.decision(tk, sc, 1<<i, reads, input)
			switch {
			case !keyed:
			case known && clean:
				mask &^= 1 << i
			case !known:
				pending = append(pending, pendingDecision{i, key})
			}
		}
		e.cache.release(tk)
	}
	if mask == 0 {
		return nil
	}
	q, err := e.builtinQuery(sc, mask)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return e.eval(ctx, q, input, add)
	}
	// The query's packages are mask's bits in order.
	var order []int
	for i := range pkgs {
		if mask&(1<<i) != 0 {
			order = append(order, i)
		}
	}
	found := make([]bool, len(pkgs))
	err = e.evalPackages(ctx, q, input, func(j int, t *ast.Term) {
		found[order[j]] = true
		add(t)
	})
	if err != nil {
		return err
	}
	for _, p := range pending {
		single, err := e.builtinQuery(sc, 1<<p.pkg)
		if err != nil {
			return err
		}
		if err := e.keep(ctx, p.key, single, input, found[p.pkg]); err != nil {
			return err
		}
	}
	return nil
}

// evalCached is evalBuiltin for the user packages that read only facts.
func (e *Engine) evalCached(ctx context.Context, sc scope, cq *cachedQuery, input *ast.Term, add func(*ast.Term)) error {
	var key *decisionKey
	if e.cache != nil && e.cache.useKeys() {
		tk := e.cache.newTokenizer()
		k, keyed, known, clean := e.decision(tk, sc, cq.id, cq.reads, input)
		e.cache.release(tk)
		if keyed && known && clean {
			return nil
		}
		if keyed && !known {
			key = &k
		}
	}
	found := false
	if err := e.eval(ctx, cq.q, input, func(t *ast.Term) { found = true; add(t) }); err != nil {
		return err
	}
	if key == nil {
		return nil
	}
	return e.keep(ctx, *key, cq.q, input, found)
}

// decision looks up the decision of query id, which reads reads, for
// input; keyed is false when the input cannot be keyed (it holds a string
// that starts like a token).
func (e *Engine) decision(tk *tokenizer, sc scope, id uint64, reads readSet, input *ast.Term) (key decisionKey, keyed, known, clean bool) {
	tk.view(reads)
	key = e.cache.key(tk, input, sc, id)
	if tk.clash {
		return key, false, false, false
	}
	clean, known = e.cache.lookup(key)
	return key, true, known, clean
}

// keep stores the verdict found of q on input under key. With
// VerifyDecisionCache, q is evaluated on the tokenized input too, and a
// different verdict is an error: tokenInvariant missed something.
func (e *Engine) keep(ctx context.Context, key decisionKey, q *findingsQuery, input *ast.Term, found bool) error {
	if e.verify {
		tk := e.cache.newTokenizer()
		tokFound := false
		err := e.eval(ctx, q, tk.tokenized(input, "", false), func(*ast.Term) { tokFound = true })
		e.cache.release(tk)
		if err != nil {
			return err
		}
		if tokFound != found {
			return fmt.Errorf("decision cache: the tokenized input finds %v, the object %v", tokFound, found)
		}
	}
	e.cache.store(key, !found)
	return nil
}

// builtinQuery returns the query over the packages of a scope that mask
// names (bit i for package i of the scope's list); nil for none.
func (e *Engine) builtinQuery(sc scope, mask uint64) (*findingsQuery, error) {
	if mask == 0 {
		return nil, nil
	}
	key := queryKey{scope: sc, mask: mask}
	if v, found := e.queries.Load(key); found {
		return v.(*findingsQuery), nil
	}
	e.prepare.Lock()
	defer e.prepare.Unlock()
	if v, found := e.queries.Load(key); found {
		return v.(*findingsQuery), nil
	}
	pkgs := e.builtin[sc]
	var paths []string
	for i, p := range pkgs {
		if mask&(1<<i) != 0 {
			paths = append(paths, p.path)
		}
	}
	q, err := compileFindings(e.compiler, paths)
	if err != nil {
		return nil, err
	}
	e.queries.Store(key, q)
	return q, nil
}

// finding turns a policy's result into a Finding, filling in the object's
// identity and applying severity overrides. A malformed result from a user
// policy still surfaces, as category other, rather than vanishing.
func (e *Engine) finding(t *ast.Term, obj *Object) Finding {
	field := func(name string) string {
		if m, ok := t.Value.(ast.Object); ok {
			if v := m.Get(ast.InternedTerm(name)); v != nil {
				if s, ok := v.Value.(ast.String); ok {
					return string(s)
				}
			}
		}
		return ""
	}
	f := Finding{
		Code:      field("code"),
		Severity:  Severity(field("severity")),
		Category:  field("category"),
		Field:     field("field"),
		Message:   field("message"),
		Kind:      obj.Kind(),
		Namespace: obj.Namespace(),
		Name:      obj.Name(),
		File:      obj.Source.File,
		Line:      obj.Source.Line,
	}
	if f.Code == "" {
		f.Code = "MESH0000"
	}
	if f.Severity != SeverityError && f.Severity != SeverityWarning {
		f.Severity = SeverityError
	}
	if !validCategory(f.Category) {
		f.Category = "other"
	}
	if f.Message == "" {
		v, err := ast.JSON(t.Value)
		if err != nil {
			v = t.String()
		}
		f.Message = fmt.Sprintf("policy finding without a message: %v", v)
	}
	if s, ok := e.settings.Rules[f.Code]; ok {
		f.Severity = s
	}
	return f
}

// ReviewAll checks every reviewable object with up to workers goroutines
// (GOMAXPROCS when workers <= 0) and returns the findings sorted. The
// inventory must not change during the call: the reviews share what they
// resolve in it (see hostCache). Review serves an inventory that changes.
func (e *Engine) ReviewAll(ctx context.Context, objs []*Object, inv Inventory, workers int) ([]Finding, error) {
	return e.ReviewChanges(ctx, objs, inv, workers, nil)
}

// ReviewChanges is ReviewAll for objects some of which replace stored ones:
// stored returns an object's stored version, or nil. Objects with a stored
// version are reviewed as UPDATEs of it, so the checks of the referenced
// side (a DestinationRule losing a subset still routed to) apply, as the
// webhook applies them on admission.
func (e *Engine) ReviewChanges(ctx context.Context, objs []*Object, inv Inventory, workers int, stored func(*Object) *Object) ([]Finding, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var todo []*Object
	for _, o := range objs {
		// A Service, Gateway API Gateway or ReferenceGrant is reviewed
		// when it replaces a stored one: for the routes the update breaks.
		if o.IsReviewed() || (stored != nil && o.IsRouteReferenced()) {
			todo = append(todo, o)
		}
	}
	// The inventory stays as it is during the call, so reviews share the
	// facts of the hosts they resolve.
	hosts := newHostCache()
	results := make([][]Finding, len(todo))
	errs := make([]error, len(todo))
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := Review{Operation: OperationCreate, Object: todo[i]}
				if stored != nil {
					if old := stored(todo[i]); old != nil {
						r.Operation, r.OldObject = OperationUpdate, old
					}
				}
				results[i], errs[i] = e.review(ctx, r, inv, hosts)
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := range todo {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A cancelled caller must not get a partial report that looks whole.
	if err := parent.Err(); err != nil {
		return nil, err
	}
	var out []Finding
	for _, r := range results {
		out = append(out, r...)
	}
	SortFindings(out)
	return out, nil
}
