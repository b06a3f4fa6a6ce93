package policies

import (
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The decision cache (cache.go) evaluates a package once per key on an
// input whose names are replaced by tokens that keep only which names are
// equal. That is sound only for packages whose findings cannot tell a name
// from its token. tokenInvariant checks that on the compiled rules: no
// string builtin, ordering or arithmetic sees a tokenized value, except to
// build what only goes into a finding (its message), and nothing reads the
// objects as written.
//
// Which input values are tokenized is decided by the name of the key that
// holds them (inputClass), the same table for the tokenizer and for this
// check, so the two cannot disagree.

// valueClass says what tokenizing does to a value.
type valueClass uint8

const (
	// classClean values are the same in the tokenized input: numbers,
	// booleans, literals of the policies, field paths, kinds.
	classClean valueClass = iota
	// classToken values are, or hold, tokenized strings: equality between
	// them is kept, nothing else is.
	classToken
	// classDerived values are computed from tokens (sprintf of a host):
	// fit for messages only.
	classDerived
)

func joinClass(a, b valueClass) valueClass { return max(a, b) }

// Keys of the policy input whose values are never tokenized.
var (
	// keptKeys hold strings the policies may read as text: field paths,
	// kinds, operations, the settings, port numbers written as keys. Names
	// written into text (a listener's via) are tokenized whole.
	keptKeys = map[string]bool{
		"kind": true, "operation": true, "field": true, "want": true, "got": true,
		"protocol": true, "clusterDomain": true, "rootNamespace": true, "missing": true,
	}
	// scalarKeys hold numbers and booleans the policies add up and order.
	scalarKeys = map[string]bool{
		"weights": true, "weight": true, "resolved": true, "byHost": true, // byHost: indexes by host
		"exists": true, "visible": true, "sidecar": true, "mirror": true, "dropped": true, "meshBound": true,
		"workloadsKnown": true, "wildcard": true,
		"supported": true, "crossNamespace": true, "permitted": true, "portExists": true,
		"listenerFound": true, "admitted": true, "hasPort": true, "written": true,
	}
	// numberTokenKeys hold the numbers that are tokenized: port numbers
	// and counts of workloads, which the policies only compare. Other
	// numbers (indexes in byHost, say) stay.
	numberTokenKeys = map[string]bool{"port": true, "number": true, "workloads": true}
	// tokenKeyed are objects whose keys are names (hosts, subsets, labels)
	// or port numbers written as text (portSet).
	tokenKeyed = map[string]bool{"hosts": true, "byHost": true, "subsets": true, "labels": true, "portSet": true}
)

// keyFlags is what the tables above say of one key, looked up once.
type keyFlags uint8

const (
	keyClean keyFlags = 1 << iota // kept or scalar
	keyTokenKeyed
	keyNumberToken
)

// inputKeyFlags joins the tables for the tokenizer, which looks every key
// up.
var inputKeyFlags = func() map[string]keyFlags {
	out := map[string]keyFlags{}
	for k := range keptKeys {
		out[k] |= keyClean
	}
	for k := range scalarKeys {
		out[k] |= keyClean
	}
	for k := range tokenKeyed {
		out[k] |= keyTokenKeyed
	}
	for k := range numberTokenKeys {
		out[k] |= keyNumberToken
	}
	return out
}()

// inputClass is the class of the value held under key k (and of each
// element when it is a list). Numbers under numberTokenKeys are tokenized
// too, into numbers.
func inputClass(k string) valueClass {
	if inputKeyFlags[k]&keyClean != 0 {
		return classClean
	}
	return classToken
}

// tokenSafeBuiltins give the same answer on tokens as on the names they
// stand for: equality, membership, counting, set algebra, type tests.
var tokenSafeBuiltins = map[string]bool{
	"eq": true, "equal": true, "neq": true, "assign": true, "count": true, "object.get": true,
	"internal.member_2": true, "internal.member_3": true, "union": true, "intersection": true,
	"minus": true, "and": true, "or": true, "object.keys": true, "is_string": true, "is_number": true,
	"is_boolean": true, "is_array": true, "is_set": true, "is_object": true, "is_null": true,
	"type_name": true, "object.union": true, "array.concat": true,
}

// messageBuiltins build text; on tokens their result is derived.
var messageBuiltins = map[string]bool{"sprintf": true, "concat": true, "format_int": true, "json.marshal": true}

// totalBuiltins always give a value for arguments of the right type (and
// tokens keep types).
var totalBuiltins = map[string]bool{
	"sprintf": true, "concat": true, "format_int": true, "json.marshal": true, "count": true,
	"object.get": true, "array.concat": true, "union": true,
}

type funcVerdict struct {
	class valueClass
	why   string
}

type invarianceChecker struct {
	compiler *ast.Compiler
	// funcs memoises each function's or rule's verdict per argument
	// classes; a rule being analysed counts as derived so that recursion
	// ends.
	funcs map[string]funcVerdict
	// total memoises whether a function always has a value.
	total map[string]bool
}

// tokenInvariant reports why pkg's findings could change when names are
// tokenized, or "" when they cannot.
func tokenInvariant(compiler *ast.Compiler, pkg string) string {
	c := &invarianceChecker{compiler: compiler, funcs: map[string]funcVerdict{}, total: map[string]bool{}}
	ref, err := ast.ParseRef(pkg + "." + findingsRule)
	if err != nil {
		return err.Error()
	}
	for _, r := range compiler.GetRulesExact(ref) {
		for x := r; x != nil; x = x.Else {
			if why := c.rule(x, nil); why != "" {
				return why
			}
		}
	}
	return ""
}

// rule checks one rule whose function arguments have classes args, and
// returns why it is not invariant.
func (c *invarianceChecker) rule(r *ast.Rule, args []valueClass) string {
	_, why := c.ruleValue(r, args)
	return why
}

func (c *invarianceChecker) ruleValue(r *ast.Rule, args []valueClass) (valueClass, string) {
	env := map[ast.Var]valueClass{}
	for i, a := range r.Head.Args {
		if v, ok := a.Value.(ast.Var); ok {
			cl := classToken
			if i < len(args) {
				cl = args[i]
			}
			env[v] = cl
		}
	}
	heads := map[ast.Var]bool{}
	for _, t := range []*ast.Term{r.Head.Key, r.Head.Value} {
		if t != nil {
			ast.WalkVars(t, func(v ast.Var) bool { heads[v] = true; return false })
		}
	}
	why := c.body(r.Body, env, heads, r.Location)
	value := classClean
	for _, t := range []*ast.Term{r.Head.Key, r.Head.Value} {
		if t != nil {
			value = joinClass(value, c.termClass(t, env))
		}
	}
	return value, why
}

// body checks a rule body. Expressions whose outputs only reach the head
// (through other such expressions) and that always succeed are exempt:
// they shape a finding, not whether there is one.
func (c *invarianceChecker) body(body ast.Body, env map[ast.Var]valueClass, heads map[ast.Var]bool, loc *ast.Location) string {
	exempt := c.exemptExprs(body, env, heads)
	for i, expr := range body {
		if len(expr.With) > 0 {
			return locate(expr, loc, "uses with")
		}
		if why := c.expr(expr, env, exempt[i]); why != "" {
			return locate(expr, loc, why)
		}
	}
	return ""
}

func locate(expr *ast.Expr, loc *ast.Location, why string) string {
	if expr.Location != nil {
		loc = expr.Location
	}
	if loc == nil {
		return why
	}
	return fmt.Sprintf("%s:%d: %s", loc.File, loc.Row, why)
}

// exemptExprs marks the total expressions whose output variables are read
// only by the head or by other exempt expressions.
func (c *invarianceChecker) exemptExprs(body ast.Body, env map[ast.Var]valueClass, heads map[ast.Var]bool) []bool {
	exempt := make([]bool, len(body))
	outputs := make([][]ast.Var, len(body))
	bound := map[ast.Var]bool{}
	for v := range env {
		bound[v] = true
	}
	for i, expr := range body {
		outs, total := c.outputs(expr, bound)
		ast.WalkVars(expr, func(v ast.Var) bool { bound[v] = true; return false })
		outputs[i] = outs
		exempt[i] = total && len(outs) > 0 && !expr.Negated
	}
	for changed := true; changed; {
		changed = false
		for i := range body {
			if !exempt[i] {
				continue
			}
			for _, v := range outputs[i] {
				if heads[v] {
					continue
				}
				for j, other := range body {
					if j == i || exempt[j] {
						continue
					}
					if readsVar(other, v) {
						exempt[i], changed = false, true
					}
				}
			}
		}
	}
	return exempt
}

func readsVar(expr *ast.Expr, v ast.Var) bool {
	found := false
	ast.WalkVars(expr, func(x ast.Var) bool {
		if x.Equal(v) {
			found = true
		}
		return found
	})
	return found
}

// outputs returns the variables an expression binds, and whether it always
// succeeds (a total call into fresh variables, or a fresh variable given a
// value that always exists).
func (c *invarianceChecker) outputs(expr *ast.Expr, bound map[ast.Var]bool) ([]ast.Var, bool) {
	terms, ok := expr.Terms.([]*ast.Term)
	if !ok {
		return nil, false
	}
	op := expr.Operator().String()
	if expr.IsEquality() && len(terms) == 3 {
		for _, pair := range [][2]*ast.Term{{terms[1], terms[2]}, {terms[2], terms[1]}} {
			if v, ok := pair[0].Value.(ast.Var); ok && !bound[v] {
				return []ast.Var{v}, alwaysDefined(pair[1])
			}
		}
		return nil, false
	}
	if b := ast.BuiltinMap[op]; b != nil {
		if len(terms)-1 == len(b.Decl.FuncArgs().Args)+1 {
			if v, ok := terms[len(terms)-1].Value.(ast.Var); ok && !bound[v] {
				return []ast.Var{v}, totalBuiltins[op]
			}
		}
		return nil, false
	}
	if rules := c.compiler.GetRulesExact(expr.Operator()); len(rules) > 0 && len(rules[0].Head.Args) == len(terms)-2 {
		if v, ok := terms[len(terms)-1].Value.(ast.Var); ok && !bound[v] {
			return []ast.Var{v}, c.isTotal(op, rules)
		}
	}
	return nil, false
}

// alwaysDefined: a variable, scalar or comprehension always has a value;
// a reference may not.
func alwaysDefined(t *ast.Term) bool {
	switch t.Value.(type) {
	case ast.Var, ast.String, ast.Number, ast.Boolean, ast.Null,
		*ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
		return true
	}
	return false
}

// isTotal: some rule of the function's else chain has a body that always
// succeeds.
func (c *invarianceChecker) isTotal(name string, rules []*ast.Rule) bool {
	if t, ok := c.total[name]; ok {
		return t
	}
	c.total[name] = false // recursion is not total
	for _, r := range rules {
		for x := r; x != nil; x = x.Else {
			if c.alwaysSucceeds(x) {
				c.total[name] = true
				return true
			}
		}
	}
	return false
}

func (c *invarianceChecker) alwaysSucceeds(r *ast.Rule) bool {
	bound := map[ast.Var]bool{}
	for _, a := range r.Head.Args {
		ast.WalkVars(a, func(v ast.Var) bool { bound[v] = true; return false })
	}
	for _, expr := range r.Body {
		if expr.Negated {
			return false
		}
		if t, ok := expr.Terms.(*ast.Term); ok && ast.Boolean(true).Equal(t.Value) {
			continue
		}
		outs, total := c.outputs(expr, bound)
		if !total {
			return false
		}
		for _, v := range outs {
			bound[v] = true
		}
	}
	return true
}

// expr checks one expression and binds the variables it outputs.
func (c *invarianceChecker) expr(expr *ast.Expr, env map[ast.Var]valueClass, exempt bool) string {
	switch t := expr.Terms.(type) {
	case *ast.Term:
		return c.value(t, env, exempt)
	case *ast.Every:
		if why := c.value(t.Domain, env, exempt); why != "" {
			return why
		}
		dom := c.termClass(t.Domain, env)
		c.bind(t.Key, keyClass(t.Domain), env)
		c.bind(t.Value, dom, env)
		return c.body(t.Body, env, nil, expr.Location)
	case []*ast.Term:
		return c.call(expr, t, env, exempt)
	}
	return ""
}

// keyClass is the class of the keys of a collection: names for the
// objects keyed by names, indexes (clean) otherwise.
func keyClass(t *ast.Term) valueClass {
	if ref, ok := t.Value.(ast.Ref); ok && len(ref) > 0 {
		if k, ok := ref[len(ref)-1].Value.(ast.String); ok && tokenKeyed[string(k)] {
			return classToken
		}
	}
	return classClean
}

func (c *invarianceChecker) call(expr *ast.Expr, terms []*ast.Term, env map[ast.Var]valueClass, exempt bool) string {
	op := expr.Operator().String()
	args := terms[1:]
	for _, a := range args {
		if why := c.value(a, env, exempt); why != "" {
			return why
		}
	}
	if expr.IsEquality() && len(args) == 2 {
		l, r := args[0], args[1]
		lv, lFree := l.Value.(ast.Var)
		rv, rFree := r.Value.(ast.Var)
		lFree = lFree && !has(env, lv)
		rFree = rFree && !has(env, rv)
		switch {
		case lFree:
			c.bind(l, c.termClass(r, env), env)
		case rFree:
			c.bind(r, c.termClass(l, env), env)
		default:
			c.bindPattern(l, r, env)
			if !exempt && (c.termClass(l, env) == classDerived || c.termClass(r, env) == classDerived) {
				return "compares text built from names"
			}
			if !exempt && c.mixes(env, l, r) {
				return "compares a name with a value that is not tokenized"
			}
		}
		return ""
	}
	var in []*ast.Term
	var out *ast.Term
	var userRules []*ast.Rule
	if b := ast.BuiltinMap[op]; b != nil {
		if b.Nondeterministic {
			return "calls " + op + ", which is not deterministic"
		}
		in = args
		if len(args) == len(b.Decl.FuncArgs().Args)+1 {
			in, out = args[:len(args)-1], args[len(args)-1]
		}
	} else if userRules = c.compiler.GetRulesExact(expr.Operator()); len(userRules) > 0 {
		in = args
		if len(args) == len(userRules[0].Head.Args)+1 {
			in, out = args[:len(args)-1], args[len(args)-1]
		}
	} else {
		return "calls " + op + ", which the check does not know"
	}
	arg := classClean
	classes := make([]valueClass, len(in))
	for i, a := range in {
		classes[i] = c.termClass(a, env)
		arg = joinClass(arg, classes[i])
	}
	result := arg
	switch {
	case userRules != nil:
		var why string
		result, why = c.function(op, userRules, classes)
		if why != "" && !exempt {
			return why
		}
	case messageBuiltins[op]:
		if arg != classClean {
			result = classDerived
		}
	case tokenSafeBuiltins[op]:
		if arg == classDerived && !exempt {
			return op + " reads text built from names"
		}
		compared := in
		if op == "object.get" && len(in) > 2 {
			compared = in[:2] // the default is not compared
		}
		if !exempt && op != "count" && c.mixes(env, compared...) {
			return op + " compares a name with a value that is not tokenized"
		}
		switch {
		case op == "object.get" && len(in) > 0:
			result = joinClass(c.termClass(in[0], env), c.termClass(in[len(in)-1], env))
		case op == "count" || op == "type_name" || strings.HasPrefix(op, "is_") ||
			op == "equal" || op == "neq" || strings.HasPrefix(op, "internal.member_"):
			result = classClean // a number or a boolean
		}
	default:
		if arg != classClean && !exempt {
			return op + " reads a name, which the decision cache replaces by a token"
		}
	}
	if out != nil {
		if v, ok := out.Value.(ast.Var); ok && !has(env, v) {
			env[v] = result
		}
	}
	return ""
}

func has(env map[ast.Var]valueClass, v ast.Var) bool { _, ok := env[v]; return ok }

// mixes reports whether terms compared with each other hold a tokenized
// value and a value that is not tokenized: the two may be equal while
// their tokenized forms are not. A literal of the policies is never
// tokenized, so comparing a name with one stays exact.
func (c *invarianceChecker) mixes(env map[ast.Var]valueClass, terms ...*ast.Term) bool {
	token, clean := false, false
	for _, t := range terms {
		switch {
		case ast.IsConstant(t.Value) && !isRef(t):
		case c.termClass(t, env) == classToken:
			token = true
		default:
			clean = true
		}
	}
	return token && clean
}

func isRef(t *ast.Term) bool { _, ok := t.Value.(ast.Ref); return ok }

// function returns the class of a function's value for arguments of the
// given classes, and why its bodies are not invariant.
func (c *invarianceChecker) function(name string, rules []*ast.Rule, args []valueClass) (valueClass, string) {
	memo := fmt.Sprint(name, args)
	if v, ok := c.funcs[memo]; ok {
		return v.class, v.why
	}
	c.funcs[memo] = funcVerdict{class: classDerived}
	v := funcVerdict{class: classClean}
	for _, r := range rules {
		for x := r; x != nil && v.why == ""; x = x.Else {
			cl, why := c.ruleValue(x, args)
			v.class, v.why = joinClass(v.class, cl), why
		}
	}
	if v.why != "" {
		v.class = classDerived
	}
	c.funcs[memo] = v
	return v.class, v.why
}

// value checks the references and comprehensions inside a term.
func (c *invarianceChecker) value(t *ast.Term, env map[ast.Var]valueClass, exempt bool) string {
	var why string
	ast.NewGenericVisitor(func(x any) bool {
		if why != "" {
			return true
		}
		switch x := x.(type) {
		case ast.Ref:
			why = c.ref(x, env, exempt)
			return true
		case *ast.ArrayComprehension:
			why = c.comprehension(x.Body, env, exempt)
			return true
		case *ast.SetComprehension:
			why = c.comprehension(x.Body, env, exempt)
			return true
		case *ast.ObjectComprehension:
			why = c.comprehension(x.Body, env, exempt)
			return true
		}
		return false
	}).Walk(t)
	return why
}

func (c *invarianceChecker) comprehension(body ast.Body, env map[ast.Var]valueClass, exempt bool) string {
	if exempt {
		return ""
	}
	inner := make(map[ast.Var]valueClass, len(env))
	for k, v := range env {
		inner[k] = v
	}
	return c.body(body, inner, nil, nil)
}

// ref checks a reference: the objects as written are never cached, and a
// rule it names must be invariant itself. Index variables it binds get the
// class of the keys they range over.
func (c *invarianceChecker) ref(ref ast.Ref, env map[ast.Var]valueClass, exempt bool) string {
	if ref[0].Equal(ast.InputRootDocument) {
		if len(ref) == 1 {
			return "reads the whole input"
		}
		if k, ok := ref[1].Value.(ast.String); ok && (k == "object" || k == "oldObject") {
			return "reads input." + string(k) + ", the object as written"
		}
	}
	if ref[0].Equal(ast.DefaultRootDocument) {
		if _, why := c.dataRef(ref); why != "" && !exempt {
			return why
		}
	}
	for i := 1; i < len(ref); i++ {
		v, ok := ref[i].Value.(ast.Var)
		keys := keyClass(&ast.Term{Value: ref[:i]})
		switch {
		case !ok:
		case !has(env, v):
			env[v] = keys
		case exempt:
		case env[v] == classDerived:
			return "looks up a key built from names (" + ref.String() + ")"
		case env[v] != keys:
			return "looks up by a key that is tokenized otherwise than the keys it is compared with (" + ref.String() + ")"
		}
	}
	return ""
}

// dataRef is the class of a rule's value named by a data reference.
func (c *invarianceChecker) dataRef(ref ast.Ref) (valueClass, string) {
	for n := len(ref); n > 1; n-- {
		if rules := c.compiler.GetRulesExact(ref[:n]); len(rules) > 0 {
			if len(rules[0].Head.Args) > 0 {
				return classDerived, "names function " + ref[:n].String() + " without calling it"
			}
			return c.function(ref[:n].String(), rules, nil)
		}
	}
	if len(c.compiler.GetRulesWithPrefix(ref)) > 0 {
		return classDerived, "reads the package " + ref.String() + " as a whole"
	}
	return classDerived, "reads " + ref.String() + ", which no policy defines"
}

// termClass is the class of a term's value under env.
func (c *invarianceChecker) termClass(t *ast.Term, env map[ast.Var]valueClass) valueClass {
	switch v := t.Value.(type) {
	case ast.Var:
		if cl, ok := env[v]; ok {
			return cl
		}
		return classToken
	case ast.Ref:
		return c.refClass(v, env)
	case ast.String, ast.Number, ast.Boolean, ast.Null:
		return classClean
	case *ast.ArrayComprehension:
		// An array's order follows the keys it iterates: names sort
		// otherwise than their tokens.
		if iteratesNames(v.Body) {
			return classDerived
		}
		return c.termClass(v.Term, env)
	case *ast.SetComprehension:
		return c.comprehensionClass(v.Term, v.Body, env)
	case *ast.ObjectComprehension:
		return joinClass(c.comprehensionClass(v.Key, v.Body, env), c.comprehensionClass(v.Value, v.Body, env))
	}
	cl := classClean
	ast.WalkTerms(t, func(x *ast.Term) bool {
		if x == t {
			return false
		}
		cl = joinClass(cl, c.termClass(x, env))
		return true
	})
	return cl
}

func (c *invarianceChecker) comprehensionClass(head *ast.Term, body ast.Body, env map[ast.Var]valueClass) valueClass {
	inner := make(map[ast.Var]valueClass, len(env))
	for k, v := range env {
		inner[k] = v
	}
	for _, expr := range body {
		_ = c.expr(expr, inner, true)
	}
	return c.termClass(head, inner)
}

func iteratesNames(body ast.Body) bool {
	found := false
	ast.WalkRefs(body, func(r ast.Ref) bool {
		for i := 1; i < len(r); i++ {
			if _, ok := r[i].Value.(ast.Var); ok && keyClass(&ast.Term{Value: r[:i]}) == classToken {
				found = true
			}
		}
		return found
	})
	return found
}

// refClass follows a reference key by key: the class is that of the last
// key that names a field (an index keeps the class of its collection).
func (c *invarianceChecker) refClass(ref ast.Ref, env map[ast.Var]valueClass) valueClass {
	var cl valueClass
	switch {
	case ref[0].Equal(ast.InputRootDocument):
		cl = classToken
	case ref[0].Equal(ast.DefaultRootDocument):
		cl, _ = c.dataRef(ref)
		return cl
	default:
		cl = c.termClass(ref[0], env)
	}
	for _, p := range ref[1:] {
		if cl == classDerived {
			return cl
		}
		if k, ok := p.Value.(ast.String); ok {
			cl = inputClass(string(k))
		}
	}
	return cl
}

// bindPattern binds fresh variables inside composite patterns.
func (c *invarianceChecker) bindPattern(l, r *ast.Term, env map[ast.Var]valueClass) {
	for _, pair := range [][2]*ast.Term{{l, r}, {r, l}} {
		ast.WalkVars(pair[0], func(v ast.Var) bool {
			if !has(env, v) {
				env[v] = joinClass(classToken, c.termClass(pair[1], env))
			}
			return false
		})
	}
}

func (c *invarianceChecker) bind(t *ast.Term, cl valueClass, env map[ast.Var]valueClass) {
	if t == nil {
		return
	}
	ast.WalkVars(t, func(v ast.Var) bool {
		if !has(env, v) {
			env[v] = cl
		}
		return false
	})
}

// policyLiterals are the strings the policies write: input values equal
// to one are kept as they are, so comparing with a literal stays exact.
// Numbers are written as text, as ast.Number holds them.
func policyLiterals(compiler *ast.Compiler) map[string]struct{} {
	out := map[string]struct{}{}
	for _, m := range compiler.Modules {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.String:
				out[string(v)] = struct{}{}
			case ast.Number:
				out[numberLiteral(v)] = struct{}{}
			}
			return false
		})
	}
	return out
}

// numberLiteral keys a number in the literals, apart from strings.
func numberLiteral(n ast.Number) string { return tokenPrefix + "n" + string(n) }

// factsRead lists the fields of input.facts that pkg's rules (and the
// rules and functions they use) read; all is true when some rule reads
// input.facts or input as a whole, or a field it names by a variable. The
// decision cache keys a package on those fields alone: what a package
// never reads cannot change its findings.
func factsRead(compiler *ast.Compiler, pkg string) (fields map[string]bool, all bool) {
	fields = map[string]bool{}
	root, err := ast.ParseRef(pkg + "." + findingsRule)
	if err != nil {
		return nil, true
	}
	seen := map[*ast.Rule]bool{}
	queue := compiler.GetRulesExact(root)
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for x := r; x != nil; x = x.Else {
			if seen[x] {
				continue
			}
			seen[x] = true
			ast.WalkRefs(x, func(ref ast.Ref) bool {
				switch {
				case ref[0].Equal(ast.InputRootDocument):
					if len(ref) < 2 {
						all = true
					} else if k, ok := ref[1].Value.(ast.String); !ok {
						all = true
					} else if k == "facts" {
						if len(ref) < 3 {
							all = true
						} else if f, ok := ref[2].Value.(ast.String); ok {
							fields[string(f)] = true
						} else {
							all = true
						}
					}
				case ref[0].Equal(ast.DefaultRootDocument):
					for n := len(ref); n > 1; n-- {
						if rules := compiler.GetRulesExact(ref[:n]); len(rules) > 0 {
							queue = append(queue, rules...)
							break
						}
					}
				}
				return false
			})
		}
	}
	return fields, all
}
