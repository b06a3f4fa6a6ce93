package canary

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// GatewayAPIVersion is the version kubectl-mesh writes Gateway API objects
// in (the standard channel's v1).
const GatewayAPIVersion = policies.GatewayAPIGroup + "/v1"

// HTTPRoutes is the Gateway API resource a split is written to when the
// Gateway API routes the service.
var HTTPRoutes = schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: "v1", Resource: "httproutes"}

// LoadHTTPRoute reads the Service, the namespace's Deployments, the
// Services of the service's versions (<service>-<version>) and the
// HTTPRoute whose parent is the Service.
func LoadHTTPRoute(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, t Target) (*State, error) {
	s, err := loadWorkloads(ctx, kube, t)
	if err != nil {
		return nil, err
	}
	svcs, err := kube.CoreV1().Services(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Services of %s: %w", t.Namespace, err)
	}
	s.Backends = map[string]*corev1.Service{}
	// A version's Service selects some of the service's pods: its selector
	// holds the service's.
	for i := range svcs.Items {
		if version, ok := strings.CutPrefix(svcs.Items[i].Name, t.Service+"-"); ok && version != "" && s.ServiceFound && holds(svcs.Items[i].Spec.Selector, s.Selector) {
			s.Backends[version] = &svcs.Items[i]
		}
	}
	routes, err := dyn.Resource(HTTPRoutes).Namespace(t.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, refuse("the cluster does not serve %s: are the Gateway API's CRDs installed? (kubectl mesh install --gateway-api)", HTTPRoutes.GroupResource())
	}
	if err != nil {
		return nil, fmt.Errorf("listing HTTPRoutes of %s: %w", t.Namespace, err)
	}
	if s.HTTPRoute, err = ChooseHTTPRoute(routes.Items, t); err != nil {
		return nil, err
	}
	return s, nil
}

// ChooseHTTPRoute picks the namespace's HTTPRoute whose parentRefs name
// the Service (mesh traffic to it); among several, the one named after
// the service. An object with the name a new one would get is taken too,
// so creating never overwrites a stranger.
func ChooseHTTPRoute(items []unstructured.Unstructured, t Target) (*unstructured.Unstructured, error) {
	var candidates []*unstructured.Unstructured
	for i := range items {
		if ServiceParent(&items[i], t.Service) {
			candidates = append(candidates, &items[i])
		}
	}
	switch len(candidates) {
	case 0:
		return byName(items, t.Service), nil
	case 1:
		return candidates[0], nil
	}
	names := make([]string, 0, len(candidates))
	for _, r := range candidates {
		if r.GetName() == t.Service {
			return r, nil
		}
		names = append(names, r.GetName())
	}
	return nil, refuse("HTTPRoutes %s all have service %s as parent; merge them first", strings.Join(names, ", "), t.Service)
}

// ServiceParent reports whether a parentRef of the route is the Service:
// group "" (written, since an absent group means the Gateway API's own)
// and kind Service, in the route's namespace.
func ServiceParent(route *unstructured.Unstructured, service string) bool {
	parents, _, _ := unstructured.NestedSlice(route.Object, "spec", "parentRefs")
	for _, p := range parents {
		m, _ := p.(map[string]any)
		group, hasGroup := m["group"].(string)
		kind, _ := m["kind"].(string)
		name, _ := m["name"].(string)
		ns, _ := m["namespace"].(string)
		if hasGroup && (group == "" || group == "core") && kind == "Service" && name == service && (ns == "" || ns == route.GetNamespace()) {
			return true
		}
	}
	return false
}

// ComputeHTTPRoute plans a change of the split the way Istio's Gateway API
// traffic-shifting task writes it: a Service per version
// (<service>-<version>, selecting the service's pods of that version, on
// its ports) and an HTTPRoute whose parent is the Service itself and whose
// backendRefs, the versions' Services, carry the weights. A version's
// Service is created before the route names it; versions that drop to 0
// stay in the route at weight 0 until --prune removes them.
func ComputeHTTPRoute(t Target, s *State, c Change) (*Plan, error) {
	if t.Service == "" || t.Namespace == "" {
		return nil, fmt.Errorf("the service and its namespace are required")
	}
	if !s.ServiceFound {
		return nil, refuse("service %s not found in namespace %s", t.Service, t.Namespace)
	}
	r, err := newRuleEditor(t, s)
	if err != nil {
		return nil, err
	}
	from, err := r.weights()
	if err != nil {
		return nil, err
	}
	var history History
	if s.HTTPRoute != nil {
		if history, err = ParseHistory(s.HTTPRoute.GetAnnotations()[HistoryAnnotation]); err != nil {
			return nil, err
		}
	}
	to, history, restore, err := nextSplit(t, c, from, history, "HTTPRoute "+r.name)
	if err != nil {
		return nil, err
	}
	plan := &Plan{From: from, To: to, RouteName: t.routeLabel()}
	zeros := c.Prune && len(to.Positive()) < len(to)
	rewrite := !from.Equal(to) || s.HTTPRoute == nil || c.Op == "rollback" || zeros
	if !rewrite {
		plan.Unchanged = true
		return plan, nil
	}

	// A version's Service exists before the route names it.
	labelsOf := func(version string) map[string]string { return versionLabels(s, version) }
	err = labelVersions(t, s, c, to, restore, labelsOf, plan, func(version string, labels map[string]string) error {
		if s.Backends[version] != nil {
			return nil
		}
		step, err := versionService(t, s, version, labels)
		if err != nil {
			return err
		}
		plan.Steps = append(plan.Steps, step)
		plan.Added = append(plan.Added, version)
		return nil
	})
	if err != nil {
		return nil, err
	}

	history = remember(t, c, history, from, to, labelsOf)
	if plan.Pruned, err = r.setRule(to, c.Prune); err != nil {
		return nil, err
	}
	what := "route " + to.Positive().String()
	if len(plan.Pruned) > 0 {
		what += ", backendRefs " + strings.Join(backendNames(t, plan.Pruned), ", ") + " removed"
	}
	plan.Steps = append(plan.Steps, r.step(history, what))
	return plan, nil
}

// BackendName is the Service a version's share goes to: <service>-<version>,
// or the service itself for the whole service.
func (t Target) BackendName(version string) string {
	if version == "" {
		return t.Service
	}
	return t.Service + "-" + version
}

func backendNames(t Target, versions []string) []string {
	out := make([]string, len(versions))
	for i, v := range versions {
		out[i] = t.BackendName(v)
	}
	return out
}

func holds(m, sub map[string]string) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

// versionLabels are the labels a version's Service selects beyond the
// service's own selector: what tells that version's pods apart.
func versionLabels(s *State, version string) map[string]string {
	svc := s.Backends[version]
	if svc == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range svc.Spec.Selector {
		if s.Selector[k] != v {
			out[k] = v
		}
	}
	return out
}

// versionService is the step that creates a version's Service: the
// service's selector and labels, on the service's ports.
func versionService(t Target, s *State, version string, labels map[string]string) (apply.Step, error) {
	selector := map[string]string{}
	for k, v := range s.Selector {
		selector[k] = v
	}
	for k, v := range labels {
		selector[k] = v
	}
	ports := make([]corev1.ServicePort, 0, len(s.Ports))
	for _, p := range s.Ports {
		// As the API server defaults an unset targetPort: the port itself.
		ports = append(ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port, TargetPort: p.TargetPort})
		if p.TargetPort == (intstr.IntOrString{}) {
			ports[len(ports)-1].TargetPort = intstr.FromInt32(p.Port)
		}
	}
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: t.BackendName(version), Namespace: t.Namespace,
			Labels: map[string]string{apply.ManagedByLabel: apply.ManagedBy}},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: ports},
	}
	objs, err := apply.FromTyped(svc)
	if err != nil {
		return apply.Step{}, err
	}
	return apply.Step{Object: objs[0], Result: objs[0], What: "service/" + svc.Name + ": created for version " + version + " (" + FormatLabels(selector) + ")"}, nil
}

// routePort is the Service port the route splits: --port, else the
// Service's only port. The versions' Services have the same ports.
func routePort(t Target, s *State) (int64, error) {
	var have []string
	for _, p := range s.Ports {
		if t.Port == 0 && len(s.Ports) == 1 || int64(p.Port) == t.Port {
			return int64(p.Port), nil
		}
		have = append(have, fmt.Sprint(p.Port))
	}
	if t.Port != 0 {
		return 0, refuse("service %s has no port %d (ports: %s)", t.Service, t.Port, orNone(have))
	}
	return 0, refuse("service %s has ports %s: name the one to split with --port", t.Service, orNone(have))
}

// ruleEditor edits the HTTPRoute's rules the way routeEditor edits a
// VirtualService's http routes: the list is read, one rule's backendRefs
// changed and the whole list applied back, on condition of the
// resourceVersion read.
type ruleEditor struct {
	t     Target
	s     *State
	name  string
	live  *unstructured.Unstructured
	apply *unstructured.Unstructured
	rules []any
	index int
}

func newRuleEditor(t Target, s *State) (*ruleEditor, error) {
	e := &ruleEditor{t: t, s: s, live: s.HTTPRoute, name: t.Service}
	if e.live == nil {
		port, err := routePort(t, s)
		if err != nil {
			return nil, err
		}
		e.apply = &unstructured.Unstructured{Object: map[string]any{}}
		e.apply.SetAPIVersion(GatewayAPIVersion)
		e.apply.SetKind("HTTPRoute")
		e.apply.SetNamespace(t.Namespace)
		e.apply.SetName(e.name)
		e.apply.SetLabels(map[string]string{apply.ManagedByLabel: apply.ManagedBy})
		e.apply.Object["spec"] = map[string]any{"parentRefs": []any{map[string]any{
			"group": "", "kind": "Service", "name": t.Service, "port": port,
		}}}
		rule := map[string]any{}
		if t.Route != "" {
			rule["name"] = t.Route
		}
		e.rules = []any{rule}
		return e, nil
	}
	e.name = e.live.GetName()
	e.apply = apply.Owned(e.live, apply.FieldManager)
	e.apply.SetResourceVersion(e.live.GetResourceVersion())
	rules, _, err := unstructured.NestedSlice(e.live.Object, "spec", "rules")
	if err != nil {
		return nil, fmt.Errorf("HTTPRoute %s: spec.rules: %w", e.name, err)
	}
	e.rules = rules
	if e.index, err = findRoute(rules, t.Route, "rule", matchesEverything, "a rule without matches, or matching every path"); err != nil {
		return nil, refuse("HTTPRoute %s: %v", e.name, err)
	}
	return e, nil
}

// matchesEverything is an HTTPRoute's default rule: no matches, or only
// the one the API server fills in for none, every path from /.
func matchesEverything(rule map[string]any) bool {
	matches, _ := rule["matches"].([]any)
	if len(matches) != 1 {
		return len(matches) == 0
	}
	m, _ := matches[0].(map[string]any)
	path, _ := m["path"].(map[string]any)
	return len(m) == 1 && len(path) == 2 && path["type"] == "PathPrefix" && path["value"] == "/"
}

func (e *ruleEditor) rule() map[string]any {
	m, _ := e.rules[e.index].(map[string]any)
	return m
}

func (e *ruleEditor) backendRefs() []any {
	refs, _ := e.rule()["backendRefs"].([]any)
	return refs
}

// version tells which version a backendRef sends to; ok is false for a
// backend that is not one of the service's versions.
func (e *ruleEditor) version(ref map[string]any) (version string, ok bool) {
	group, _ := ref["group"].(string)
	kind, _ := ref["kind"].(string)
	ns, _ := ref["namespace"].(string)
	name, _ := ref["name"].(string)
	if group != "" || (kind != "" && kind != "Service") || (ns != "" && ns != e.t.Namespace) {
		return "", false
	}
	if name == e.t.Service {
		return "", true
	}
	return strings.CutPrefix(name, e.t.Service+"-")
}

// weights reads the split of the rule. A backendRef without weight
// weighs 1, the Gateway API's default, and a lone one takes everything.
func (e *ruleEditor) weights() (Weights, error) {
	refs := e.backendRefs()
	var out Weights
	for i, r := range refs {
		m, _ := r.(map[string]any)
		version, ok := e.version(m)
		if !ok {
			name, _ := m["name"].(string)
			return nil, refuse("the %s of HTTPRoute %s also routes to %s (backendRefs[%d]); canary shifts traffic between the versions of %s only (Services %s-VERSION)", e.t.routeLabel(), e.name, name, i, e.t.Service, e.t.Service)
		}
		w, ok := policies.IntValue(m["weight"])
		if !ok {
			w = 1
			if len(refs) == 1 {
				w = 100
			}
		}
		out = append(out, Weight{Subset: version, Weight: int(w)})
	}
	if e.live != nil && len(refs) == 0 {
		return nil, refuse("the %s of HTTPRoute %s has no backendRefs", e.t.routeLabel(), e.name)
	}
	return out, nil
}

// setRule replaces the rule's backendRefs with the split; with prune the
// versions at 0 are left out, and returned. A backendRef that was there
// keeps its other fields (filters); a new one takes the port of the
// first.
func (e *ruleEditor) setRule(w Weights, prune bool) ([]string, error) {
	old := map[string]map[string]any{}
	var template map[string]any
	for _, r := range e.backendRefs() {
		m, _ := r.(map[string]any)
		if v, ok := e.version(m); ok {
			old[v] = m
			if template == nil {
				template = map[string]any{}
				for _, k := range []string{"group", "kind", "namespace", "port"} {
					if x, ok := m[k]; ok {
						template[k] = runtime.DeepCopyJSONValue(x)
					}
				}
			}
		}
	}
	if template == nil {
		port, err := routePort(e.t, e.s)
		if err != nil {
			return nil, err
		}
		template = map[string]any{"port": port}
	}
	var out []any
	var pruned []string
	for _, x := range w {
		if prune && x.Weight == 0 {
			pruned = append(pruned, x.Subset)
			continue
		}
		entry := runtime.DeepCopyJSON(template)
		if m, ok := old[x.Subset]; ok {
			entry = runtime.DeepCopyJSON(m)
		}
		entry["name"] = e.t.BackendName(x.Subset)
		entry["weight"] = int64(x.Weight)
		out = append(out, entry)
	}
	rule := runtime.DeepCopyJSON(e.rule())
	rule["backendRefs"] = out
	rules := append([]any(nil), e.rules...)
	rules[e.index] = rule
	e.rules = rules
	return pruned, nil
}

func (e *ruleEditor) step(history History, what string) apply.Step {
	obj := e.apply.DeepCopy()
	if err := unstructured.SetNestedSlice(obj.Object, runtime.DeepCopyJSONValue(e.rules).([]any), "spec", "rules"); err != nil {
		panic(err) // the path holds maps only: cannot fail
	}
	setHistory(obj, history)
	return apply.Step{Object: obj, Result: apply.Merged(e.live, obj, apply.FieldManager), What: "httproute/" + e.name + ": " + what}
}

// StatusOfHTTPRoute reports the split of a service the Gateway API routes:
// each version with its weight in the rule, the labels its Service selects
// and the Deployments that run it.
func StatusOfHTTPRoute(t Target, s *State) (*Status, error) {
	st := &Status{Namespace: t.Namespace, Service: t.Service, Host: t.FQDN(), API: "gateway", Route: t.Route, Subsets: []SubsetStatus{}}
	if st.Route == "" {
		st.Route = "(default)"
	}
	var weights Weights
	if s.HTTPRoute != nil {
		e, err := newRuleEditor(Target{Namespace: t.Namespace, Service: t.Service, Route: t.Route}, s)
		if err != nil {
			return nil, err
		}
		if weights, err = e.weights(); err != nil {
			return nil, err
		}
		st.HTTPRoute = s.HTTPRoute.GetName()
		if st.History, err = ParseHistory(s.HTTPRoute.GetAnnotations()[HistoryAnnotation]); err != nil {
			return nil, err
		}
	}
	add := func(version string) {
		sub := subsetStatus(s, version, versionLabels(s, version), weights.Of(version), version == "" || s.Backends[version] != nil)
		sub.Backend = t.BackendName(version)
		st.Subsets = append(st.Subsets, sub)
	}
	for _, w := range weights {
		add(w.Subset)
	}
	versions := make([]string, 0, len(s.Backends))
	for v := range s.Backends {
		if !weights.Has(v) {
			versions = append(versions, v)
		}
	}
	sort.Strings(versions)
	for _, v := range versions {
		add(v)
	}
	return st, nil
}
