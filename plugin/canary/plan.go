package canary

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

const (
	// IstioAPIVersion is the version kubectl-mesh writes Istio objects in
	// (served since Istio 1.22).
	IstioAPIVersion = "networking.istio.io/v1"
	// DefaultSubsetLabel is the pod label new subsets select on.
	DefaultSubsetLabel = "version"
)

// ErrRefused marks a change refused because of what the cluster holds
// (no workload for a subset, no history to roll back to ...).
var ErrRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Target names the service whose traffic is shifted and how new objects
// are shaped.
type Target struct {
	Namespace string
	// Service is the Kubernetes Service's name in Namespace.
	Service string
	// Domain is the cluster domain (cluster.local).
	Domain string
	// SubsetLabel is the pod label a new subset selects: subset v2 gets
	// {SubsetLabel: v2}. Existing subsets keep their labels.
	SubsetLabel string
	// Route is the name of the http route to change; "" is the default
	// route (the last http route without match).
	Route string
	// VirtualService names the VirtualService to change or create; ""
	// finds the one routing to the service, or creates one named Service.
	VirtualService string
	// Gateway and Hosts shape a VirtualService that has to be created:
	// bound to Gateway (NAME or NS/NAME) with Hosts (default "*"), and
	// routing to the service's fully qualified name, as for traffic from
	// the ingress gateway.
	Gateway string
	Hosts   []string
	// Port is the destination port of a created VirtualService (0: none,
	// for a Service with one port).
	Port int64
}

// FQDN is the service's fully qualified host name.
func (t Target) FQDN() string {
	return policies.ResolveHost(t.Service, t.Namespace, t.domain())
}

func (t Target) domain() string {
	if t.Domain == "" {
		return policies.DefaultClusterDomain
	}
	return t.Domain
}

func (t Target) subsetLabel() string {
	if t.SubsetLabel == "" {
		return DefaultSubsetLabel
	}
	return t.SubsetLabel
}

func (t Target) routeLabel() string {
	if t.Route == "" {
		return "default route"
	}
	return "route " + t.Route
}

// Workload is a Deployment's pod template and readiness.
type Workload struct {
	Kind     string            `json:"kind"`
	Name     string            `json:"name"`
	Labels   map[string]string `json:"-"`
	Ready    int32             `json:"ready"`
	Replicas int32             `json:"replicas"`
}

// State is what the cluster holds for the service.
type State struct {
	// Selector is the Service's pod selector; ServiceFound says whether
	// the Service exists.
	ServiceFound bool
	Selector     map[string]string
	// Ports are the Service's ports: those of the versions' Services an
	// HTTPRoute splits over.
	Ports []corev1.ServicePort
	// HTTPRoute is the Gateway API route of the service and Backends the
	// namespace's Services named <service>-<version>, by version, when the
	// split is written with the Gateway API.
	HTTPRoute *unstructured.Unstructured
	Backends  map[string]*corev1.Service
	// VirtualService and DestinationRule are the live objects for the
	// service (nil when none exists).
	VirtualService  *unstructured.Unstructured
	DestinationRule *unstructured.Unstructured
	// Workloads are the namespace's Deployments.
	Workloads []Workload
}

// Change is what a command asks for.
type Change struct {
	// Op is set, step, promote or rollback.
	Op      string
	Weights Weights // set
	To      string  // step, promote
	By      int     // step
	// Prune removes from the DestinationRule the subsets no route of the
	// VirtualService uses any more, after the VirtualService has left them.
	Prune bool
	// Force skips the check that a subset given traffic selects a workload.
	Force bool
	Now   time.Time
}

// Plan is a change ordered make-before-break: the DestinationRule gains
// new subsets before the VirtualService routes to them, and loses pruned
// ones only after the VirtualService has left them.
type Plan struct {
	From, To  Weights
	RouteName string
	Steps     []apply.Step
	// Unchanged is true when the split is already the one asked for.
	Unchanged bool
	Added     []string
	Pruned    []string
	// Kept are zero-weight subsets --prune left because a route still uses them.
	Kept []string
	// InferredLabel is the pod label new subsets select when it was not
	// given and version does not fit: the one that tells the service's
	// Deployments apart.
	InferredLabel string
}

// Compute plans a change of the split from the current state.
func Compute(t Target, s *State, c Change) (*Plan, error) {
	if t.Service == "" || t.Namespace == "" {
		return nil, errors.New("the service and its namespace are required")
	}
	if !s.ServiceFound {
		return nil, refuse("service %s not found in namespace %s", t.Service, t.Namespace)
	}
	vs, err := newRouteEditor(t, s.VirtualService)
	if err != nil {
		return nil, err
	}
	from, err := vs.weights()
	if err != nil {
		return nil, err
	}
	var history History
	if s.VirtualService != nil {
		if history, err = ParseHistory(s.VirtualService.GetAnnotations()[HistoryAnnotation]); err != nil {
			return nil, err
		}
	}
	dr := newSubsetEditor(t, s.DestinationRule, vs.hostAsWritten())

	to, history, restore, err := nextSplit(t, c, from, history, refName(s.VirtualService, vs.name))
	if err != nil {
		return nil, err
	}
	plan := &Plan{From: from, To: to, RouteName: t.routeLabel()}
	// A rollback always rewrites the VirtualService: its history lost an entry.
	rewrite := !from.Equal(to) || s.VirtualService == nil || c.Op == "rollback"
	if !rewrite && !c.Prune {
		plan.Unchanged = true
		return plan, nil
	}

	// Subsets first: every subset given traffic must exist before the
	// route names it.
	err = labelVersions(t, s, c, to, restore, dr.labelsOf, plan, func(subset string, labels map[string]string) error {
		if dr.add(subset, labels) {
			plan.Added = append(plan.Added, subset)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(plan.Added) > 0 {
		plan.Steps = append(plan.Steps, dr.step("add subsets "+strings.Join(plan.Added, ", ")))
	}

	history = remember(t, c, history, from, to, dr.labelsOf)
	if rewrite {
		vs.setRoute(to)
		plan.Steps = append(plan.Steps, vs.step(history, "route "+to.Positive().String()))
	}

	if c.Prune {
		used := vs.subsetsUsed()
		for _, name := range dr.names() {
			switch {
			case to.Of(name) > 0:
			case used[name]:
				plan.Kept = append(plan.Kept, name)
			default:
				dr.remove(name)
				plan.Pruned = append(plan.Pruned, name)
			}
		}
		if len(plan.Pruned) > 0 {
			plan.Steps = append(plan.Steps, dr.step("prune subsets "+strings.Join(plan.Pruned, ", ")))
		}
	}
	plan.Unchanged = len(plan.Steps) == 0
	return plan, nil
}

// nextSplit is the split a change asks for, given the route's current one
// (ref names the route's object in refusals). A rollback also returns the
// history without the entry it restores, and the labels of that entry's
// subsets.
func nextSplit(t Target, c Change, from Weights, history History, ref string) (Weights, History, map[string]map[string]string, error) {
	var to Weights
	restore := map[string]map[string]string{}
	switch c.Op {
	case "set":
		to = c.Weights
	case "step":
		if len(from) == 0 || (len(from) == 1 && from[0].Subset == "") {
			return nil, nil, nil, refuse("the %s of %s routes to the whole service, not to subsets: start with kubectl mesh canary set", t.routeLabel(), ref)
		}
		to = from.Step(c.To, c.By)
	case "promote":
		to = from.Promote(c.To)
	case "rollback":
		var entry HistoryEntry
		var ok bool
		history, entry, ok = history.Pop(t.Route)
		if !ok {
			return nil, nil, nil, refuse("no earlier split of the %s of %s to roll back to (annotation %s)", t.routeLabel(), ref, HistoryAnnotation)
		}
		to, restore = entry.Weights, entry.Subsets
	default:
		return nil, nil, nil, fmt.Errorf("unknown canary operation %q", c.Op)
	}
	if err := to.Validate(); err != nil {
		return nil, nil, nil, err
	}
	return to, history, restore, nil
}

// remember pushes the split a change replaces onto the history, with the
// labels its subsets select, so that rollback can return to it.
func remember(t Target, c Change, history History, from, to Weights, labelsOf func(string) map[string]string) History {
	if c.Op == "rollback" || from.Equal(to) || len(from) == 0 {
		return history
	}
	entry := HistoryEntry{Route: t.Route, Weights: from, Subsets: map[string]map[string]string{}}
	if !c.Now.IsZero() {
		entry.At = c.Now.UTC().Format(time.RFC3339)
	}
	for _, w := range from {
		if l := labelsOf(w.Subset); l != nil {
			entry.Subsets[w.Subset] = l
		}
	}
	return history.Push(entry)
}

func refName(obj *unstructured.Unstructured, name string) string {
	if obj != nil {
		name = obj.GetName()
	}
	return "VirtualService " + name
}

// checkWorkload refuses a subset that no Deployment of the service runs:
// its pod template must carry the subset's labels and the Service's selector.
// labelVersions settles the pod labels of every version to gives traffic:
// the labels it has (known), a rolled-back version's, else {label: version}
// with the label given or inferred (plan.InferredLabel). Unless forced,
// each must select workloads; each then goes to add.
func labelVersions(t Target, s *State, c Change, to Weights, restore map[string]map[string]string, known func(string) map[string]string, plan *Plan, add func(version string, labels map[string]string) error) error {
	var unlabelled []string
	for _, w := range to.Positive() {
		if w.Subset != "" && known(w.Subset) == nil && restore[w.Subset] == nil {
			unlabelled = append(unlabelled, w.Subset)
		}
	}
	label, inferred, err := subsetLabelFor(t, s, unlabelled)
	if err != nil {
		return err
	}
	if inferred {
		plan.InferredLabel = label
	}
	for _, w := range to.Positive() {
		if w.Subset == "" {
			continue
		}
		labels := known(w.Subset)
		if labels == nil {
			labels = restore[w.Subset]
		}
		if labels == nil {
			labels = map[string]string{label: w.Subset}
		}
		if !c.Force {
			if err := checkWorkload(t, s, w.Subset, labels); err != nil {
				return err
			}
		}
		if err := add(w.Subset, labels); err != nil {
			return err
		}
	}
	return nil
}

func checkWorkload(t Target, s *State, subset string, labels map[string]string) error {
	want := map[string]string{}
	for k, v := range s.Selector {
		want[k] = v
	}
	for k, v := range labels {
		want[k] = v
	}
	if len(matching(s.Workloads, want)) > 0 {
		return nil
	}
	return refuse("subset %s selects %s, but no Deployment in namespace %s has a pod template with %s; deploy that version first, or name the label its pods carry with --subset-label (--force creates the subset anyway, selecting nothing until such pods run)",
		subset, FormatLabels(labels), t.Namespace, FormatLabels(want))
}

// subsetLabelFor picks the pod label that new subsets select: the one
// given with --subset-label; else version, when the service's Deployments
// carry version=NAME for every new subset; else the one label whose values
// among the service's Deployments include every new subset name (the
// tutorial's canary tells appv1 and appv2 apart by app: v1 and app: v2).
// inferred is true for the last case. Several such labels are refused.
func subsetLabelFor(t Target, s *State, names []string) (label string, inferred bool, err error) {
	if t.SubsetLabel != "" {
		return t.SubsetLabel, false, nil
	}
	service := matching(s.Workloads, s.Selector)
	if len(names) == 0 || carriesEach(service, DefaultSubsetLabel, names) {
		return DefaultSubsetLabel, false, nil
	}
	keys := map[string]bool{}
	for _, w := range service {
		for k := range w.Labels {
			if carriesEach(service, k, names) {
				keys[k] = true
			}
		}
	}
	found := make([]string, 0, len(keys))
	for k := range keys {
		found = append(found, k)
	}
	sort.Strings(found)
	switch len(found) {
	case 0:
		return DefaultSubsetLabel, false, nil // checkWorkload says what is missing
	case 1:
		return found[0], true, nil
	}
	return "", false, refuse("the Deployments of service %s tell %s apart by several labels (%s): name the one subsets select with --subset-label",
		t.Service, strings.Join(names, " and "), strings.Join(found, ", "))
}

// carriesEach reports whether, for every name, one of the workloads has
// the label key=name.
func carriesEach(workloads []Workload, key string, names []string) bool {
	for _, n := range names {
		found := false
		for _, w := range workloads {
			found = found || w.Labels[key] == n
		}
		if !found {
			return false
		}
	}
	return true
}

func matching(workloads []Workload, want map[string]string) []Workload {
	var out []Workload
	for _, w := range workloads {
		if holds(w.Labels, want) {
			out = append(out, w)
		}
	}
	return out
}

// FormatLabels writes labels as k=v,k2=v2, sorted by key.
func FormatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// routeEditor edits the VirtualService: only spec.http is rewritten,
// because Istio's CRD declares http an atomic list, so server-side apply
// replaces it as a whole. The list is read, one route changed and the whole
// list applied back, with the resourceVersion read as a precondition so a
// concurrent edit fails instead of being lost.
type routeEditor struct {
	t     Target
	name  string
	live  *unstructured.Unstructured
	apply *unstructured.Unstructured
	http  []any
	index int
}

func newRouteEditor(t Target, live *unstructured.Unstructured) (*routeEditor, error) {
	e := &routeEditor{t: t, live: live, name: t.VirtualService}
	if e.name == "" {
		e.name = t.Service
	}
	if live == nil {
		e.apply = NewObject("VirtualService", t.Namespace, e.name)
		spec := map[string]any{}
		if t.Gateway != "" {
			hosts := t.Hosts
			if len(hosts) == 0 {
				hosts = []string{"*"}
			}
			spec["hosts"] = toAny(hosts)
			spec["gateways"] = []any{t.Gateway}
		} else {
			spec["hosts"] = []any{t.Service}
		}
		e.apply.Object["spec"] = spec
		route := map[string]any{}
		if t.Route != "" {
			route["name"] = t.Route
		}
		e.http = []any{route}
		return e, nil
	}
	e.name = live.GetName()
	if err := e.checkBinding(); err != nil {
		return nil, err
	}
	e.apply = apply.Owned(live, apply.FieldManager)
	e.apply.SetResourceVersion(live.GetResourceVersion())
	http, _, err := unstructured.NestedSlice(live.Object, "spec", "http")
	if err != nil {
		return nil, fmt.Errorf("VirtualService %s: spec.http: %w", e.name, err)
	}
	e.http = http
	if e.index, err = findRoute(http, t.Route, "http route", withoutMatch, "an http route without match"); err != nil {
		return nil, refuse("VirtualService %s: %v", e.name, err)
	}
	return e, nil
}

// checkBinding refuses --gateway/--hosts that contradict an existing
// VirtualService: they only shape one that is created.
func (e *routeEditor) checkBinding() error {
	ns := e.live.GetNamespace()
	if e.t.Gateway != "" {
		gws, _, _ := unstructured.NestedStringSlice(e.live.Object, "spec", "gateways")
		found := false
		for _, g := range gws {
			if policies.GatewayKey(g, ns) == policies.GatewayKey(e.t.Gateway, ns) {
				found = true
			}
		}
		if !found {
			return refuse("VirtualService %s exists and is not bound to gateway %s (gateways: %s); --gateway and --hosts shape a VirtualService that is created", e.name, e.t.Gateway, strings.Join(gws, ", "))
		}
	}
	if len(e.t.Hosts) > 0 {
		hosts, _, _ := unstructured.NestedStringSlice(e.live.Object, "spec", "hosts")
		for _, h := range e.t.Hosts {
			if !slices.Contains(hosts, h) {
				return refuse("VirtualService %s exists and does not serve host %s (hosts: %s); --hosts shapes a VirtualService that is created", e.name, h, strings.Join(hosts, ", "))
			}
		}
	}
	return nil
}

// findRoute returns the index of the named route, or of the default
// route: the last one that matches everything (matchesAll; a
// VirtualService's http route without match, say).
func findRoute(routes []any, name, what string, matchesAll func(map[string]any) bool, defaultRoute string) (int, error) {
	if name != "" {
		var names []string
		for i, r := range routes {
			m, _ := r.(map[string]any)
			if n, _ := m["name"].(string); n == name {
				return i, nil
			} else if n != "" {
				names = append(names, n)
			}
		}
		return 0, fmt.Errorf("no %s named %s (named routes: %s)", what, name, orNone(names))
	}
	for i := len(routes) - 1; i >= 0; i-- {
		m, _ := routes[i].(map[string]any)
		if matchesAll(m) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no default route (%s); name the route to change with --route", defaultRoute)
}

// withoutMatch is a VirtualService's default route: no match conditions.
func withoutMatch(route map[string]any) bool {
	match, _ := route["match"].([]any)
	return len(match) == 0
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

func (e *routeEditor) route() map[string]any {
	m, _ := e.http[e.index].(map[string]any)
	return m
}

func (e *routeEditor) resolves(host string) bool {
	return policies.ResolveHost(host, e.t.Namespace, e.t.domain()) == e.t.FQDN()
}

// weights reads the split of the route; a route that also sends traffic to
// another host is refused: canary shifts traffic within one service.
func (e *routeEditor) weights() (Weights, error) {
	dests, _ := e.route()["route"].([]any)
	var out Weights
	for i, d := range dests {
		m, _ := d.(map[string]any)
		dest, _ := m["destination"].(map[string]any)
		host, _ := dest["host"].(string)
		if !e.resolves(host) {
			return nil, refuse("the %s of VirtualService %s also routes to %s (route[%d]); canary shifts traffic between the subsets of %s only", e.t.routeLabel(), e.name, host, i, e.t.FQDN())
		}
		subset, _ := dest["subset"].(string)
		w, ok := policies.IntValue(m["weight"])
		if !ok && len(dests) == 1 {
			w = 100
		}
		out = append(out, Weight{Subset: subset, Weight: int(w)})
	}
	if e.live != nil && len(dests) == 0 {
		return nil, refuse("the %s of VirtualService %s has no destinations", e.t.routeLabel(), e.name)
	}
	return out, nil
}

// hostAsWritten is how the route names the service: as its first
// destination does, else the FQDN for a gateway-bound VirtualService (a
// short name there would resolve in the VirtualService's namespace, which
// reads ambiguously at the edge) and the short name otherwise.
func (e *routeEditor) hostAsWritten() string {
	if d := e.template(); d != nil {
		if h, _ := d["host"].(string); h != "" {
			return h
		}
	}
	if e.t.Gateway != "" {
		return e.t.FQDN()
	}
	return e.t.Service
}

func (e *routeEditor) template() map[string]any {
	dests, _ := e.route()["route"].([]any)
	for _, d := range dests {
		m, _ := d.(map[string]any)
		if dest, ok := m["destination"].(map[string]any); ok {
			return dest
		}
	}
	return nil
}

// setRoute replaces the route's destinations with the split; subsets at 0
// are left out. A destination that was there keeps its other fields
// (headers, port).
func (e *routeEditor) setRoute(w Weights) {
	old := map[string]map[string]any{}
	dests, _ := e.route()["route"].([]any)
	for _, d := range dests {
		m, _ := d.(map[string]any)
		dest, _ := m["destination"].(map[string]any)
		subset, _ := dest["subset"].(string)
		old[subset] = m
	}
	template := map[string]any{"host": e.hostAsWritten()}
	if d := e.template(); d != nil {
		template = runtime.DeepCopyJSON(d)
	} else if e.t.Port != 0 {
		template["port"] = map[string]any{"number": e.t.Port}
	}
	var out []any
	for _, x := range w.Positive() {
		var entry map[string]any
		if m, ok := old[x.Subset]; ok {
			entry = runtime.DeepCopyJSON(m)
		} else {
			dest := runtime.DeepCopyJSON(template)
			delete(dest, "subset")
			if x.Subset != "" {
				dest["subset"] = x.Subset
			}
			entry = map[string]any{"destination": dest}
		}
		entry["weight"] = int64(x.Weight)
		out = append(out, entry)
	}
	route := runtime.DeepCopyJSON(e.route())
	route["route"] = out
	http := append([]any(nil), e.http...)
	http[e.index] = route
	e.http = http
}

// subsetsUsed lists the subsets of the service any http route names.
func (e *routeEditor) subsetsUsed() map[string]bool {
	used := map[string]bool{}
	for _, r := range e.http {
		m, _ := r.(map[string]any)
		dests, _ := m["route"].([]any)
		if mirror, ok := m["mirror"].(map[string]any); ok {
			dests = append(dests, map[string]any{"destination": mirror})
		}
		for _, d := range dests {
			dm, _ := d.(map[string]any)
			dest, _ := dm["destination"].(map[string]any)
			host, _ := dest["host"].(string)
			if subset, _ := dest["subset"].(string); subset != "" && e.resolves(host) {
				used[subset] = true
			}
		}
	}
	return used
}

func (e *routeEditor) step(history History, what string) apply.Step {
	obj := e.apply.DeepCopy()
	if err := unstructured.SetNestedSlice(obj.Object, runtime.DeepCopyJSONValue(e.http).([]any), "spec", "http"); err != nil {
		panic(err) // the path holds maps only: cannot fail
	}
	setHistory(obj, history)
	return apply.Step{Object: obj, Result: apply.Merged(e.live, obj, apply.FieldManager), What: "virtualservice/" + e.name + ": " + what}
}

// setHistory writes the history annotation, or removes it when empty.
func setHistory(obj *unstructured.Unstructured, history History) {
	if len(history) > 0 {
		annotations := obj.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[HistoryAnnotation] = history.String()
		obj.SetAnnotations(annotations)
	} else if a := obj.GetAnnotations(); a != nil {
		delete(a, HistoryAnnotation)
		if len(a) == 0 {
			a = nil
		}
		obj.SetAnnotations(a)
	}
}

// subsetEditor edits the DestinationRule's subsets, also an atomic list:
// read, changed and applied whole, like http.
type subsetEditor struct {
	t       Target
	name    string
	live    *unstructured.Unstructured
	apply   *unstructured.Unstructured
	subsets []any
}

func newSubsetEditor(t Target, live *unstructured.Unstructured, host string) *subsetEditor {
	e := &subsetEditor{t: t, live: live, name: t.Service}
	if live == nil {
		e.apply = NewObject("DestinationRule", t.Namespace, e.name)
		e.apply.Object["spec"] = map[string]any{"host": host}
		return e
	}
	e.name = live.GetName()
	e.apply = apply.Owned(live, apply.FieldManager)
	e.apply.SetResourceVersion(live.GetResourceVersion())
	e.subsets, _, _ = unstructured.NestedSlice(live.Object, "spec", "subsets")
	return e
}

func (e *subsetEditor) find(name string) int {
	for i, s := range e.subsets {
		m, _ := s.(map[string]any)
		if n, _ := m["name"].(string); n == name {
			return i
		}
	}
	return -1
}

func (e *subsetEditor) labelsOf(name string) map[string]string {
	i := e.find(name)
	if i < 0 {
		return nil
	}
	m, _ := e.subsets[i].(map[string]any)
	labels := map[string]string{}
	if l, ok := m["labels"].(map[string]any); ok {
		for k, v := range l {
			if s, ok := v.(string); ok {
				labels[k] = s
			}
		}
	}
	return labels
}

func (e *subsetEditor) names() []string {
	var out []string
	for _, s := range e.subsets {
		m, _ := s.(map[string]any)
		if n, _ := m["name"].(string); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// add appends a subset when the rule lacks it.
func (e *subsetEditor) add(name string, labels map[string]string) bool {
	if e.find(name) >= 0 {
		return false
	}
	l := map[string]any{}
	for k, v := range labels {
		l[k] = v
	}
	e.subsets = append(append([]any(nil), e.subsets...), map[string]any{"name": name, "labels": l})
	return true
}

func (e *subsetEditor) remove(name string) {
	i := e.find(name)
	if i < 0 {
		return
	}
	e.subsets = append(append([]any(nil), e.subsets[:i]...), e.subsets[i+1:]...)
}

func (e *subsetEditor) step(what string) apply.Step {
	obj := e.apply.DeepCopy()
	if err := unstructured.SetNestedSlice(obj.Object, runtime.DeepCopyJSONValue(e.subsets).([]any), "spec", "subsets"); err != nil {
		panic(err) // the path holds maps only: cannot fail
	}
	return apply.Step{Object: obj, Result: apply.Merged(e.live, obj, apply.FieldManager), What: "destinationrule/" + e.name + ": " + what}
}

// NewObject is an empty Istio networking object that kubectl-mesh creates,
// labelled as such so that cleanup can tell it from objects users made.
func NewObject(kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(IstioAPIVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetLabels(map[string]string{apply.ManagedByLabel: apply.ManagedBy})
	return u
}

func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}
