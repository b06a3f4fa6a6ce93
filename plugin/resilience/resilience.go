// Package resilience is the engine of `kubectl mesh resilience`: circuit
// breakers on a host's DestinationRule, and timeouts, retries and injected
// faults on its VirtualService, merged into what exists without clobbering
// fields that other tools set. It has no command-line plumbing.
package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/canary"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// ErrRefused marks a change refused because of what the cluster holds.
var ErrRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Target is the host whose traffic is hardened, as clients in Namespace
// call it.
type Target struct {
	Namespace string
	// Host is a short Service name (resolved in Namespace) or a fully
	// qualified name.
	Host   string
	Domain string
	// VirtualService names the VirtualService to change or create; ""
	// finds the mesh VirtualService serving Host, or creates one.
	VirtualService string
	// Route restricts route settings to the http route of that name; ""
	// changes every http route of the VirtualService.
	Route string
}

// FQDN is the host as Istio looks it up.
func (t Target) FQDN() string { return policies.ResolveHost(t.Host, t.Namespace, t.domain()) }

func (t Target) domain() string {
	if t.Domain == "" {
		return policies.DefaultClusterDomain
	}
	return t.Domain
}

// nonName is what may not appear in an object name.
var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName is the name of an object created for the host: the
// Service's name, or the host with dots as dashes.
func (t Target) objectName() string {
	if _, name, ok := policies.ServiceFromFQDN(t.FQDN(), t.domain()); ok {
		return name
	}
	return strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Host), "-"), "-")
}

// shortHost is how a created VirtualService names the host: the Service's
// short name when it lives in the VirtualService's namespace.
func (t Target) shortHost() string {
	if ns, name, ok := policies.ServiceFromFQDN(t.FQDN(), t.domain()); ok && ns == t.Namespace {
		return name
	}
	return t.FQDN()
}

// State holds the host's live DestinationRule and VirtualService in the
// namespace (nil when there is none).
type State struct {
	DestinationRule *unstructured.Unstructured
	VirtualService  *unstructured.Unstructured
	// HTTPRoute is the Gateway API route whose parent is the host's
	// Service, and ServicePorts that Service's ports, when the Gateway
	// API routes the host.
	HTTPRoute    *unstructured.Unstructured
	ServicePorts []int64
}

// Load finds the host's DestinationRule and mesh VirtualService.
func Load(ctx context.Context, dyn dynamic.Interface, t Target) (*State, error) {
	drs, err := dyn.Resource(canary.DestinationRules).Namespace(t.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, refuse("the cluster does not serve %s: are Istio's CRDs installed? (kubectl mesh install)", canary.DestinationRules.GroupResource())
	}
	if err != nil {
		return nil, fmt.Errorf("listing DestinationRules of %s: %w", t.Namespace, err)
	}
	vss, err := dyn.Resource(canary.VirtualServices).Namespace(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing VirtualServices of %s: %w", t.Namespace, err)
	}
	s := &State{}
	var drCandidates, vsCandidates []*unstructured.Unstructured
	for i := range drs.Items {
		host, _, _ := unstructured.NestedString(drs.Items[i].Object, "spec", "host")
		if policies.ResolveHost(host, t.Namespace, t.domain()) == t.FQDN() {
			drCandidates = append(drCandidates, &drs.Items[i])
		}
	}
	if s.DestinationRule, err = pick("DestinationRules", drCandidates, t.objectName(), "Istio applies only one of them: merge them first"); err != nil {
		return nil, err
	}
	for i := range vss.Items {
		vs := &vss.Items[i]
		if t.VirtualService != "" {
			if vs.GetName() == t.VirtualService {
				vsCandidates = []*unstructured.Unstructured{vs}
				break
			}
			continue
		}
		if servesHost(vs, t) && forMesh(vs) {
			vsCandidates = append(vsCandidates, vs)
		}
	}
	if s.VirtualService, err = pick("VirtualServices", vsCandidates, t.objectName(), "choose one with --virtual-service"); err != nil {
		return nil, err
	}
	if s.VirtualService == nil {
		// Creating must not overwrite a stranger of the same name.
		name := t.VirtualService
		if name == "" {
			name = t.objectName()
		}
		for i := range vss.Items {
			if vss.Items[i].GetName() == name {
				return nil, refuse("VirtualService %s exists but does not serve %s to the mesh; name the one to change with --virtual-service", name, t.FQDN())
			}
		}
	}
	return s, nil
}

func pick(what string, candidates []*unstructured.Unstructured, preferred, hint string) (*unstructured.Unstructured, error) {
	switch len(candidates) {
	case 0:
		return nil, nil
	case 1:
		return candidates[0], nil
	}
	names := make([]string, 0, len(candidates))
	for _, c := range candidates {
		if c.GetName() == preferred {
			return c, nil
		}
		names = append(names, c.GetName())
	}
	sort.Strings(names)
	return nil, refuse("%s %s all apply to the host; %s", what, strings.Join(names, ", "), hint)
}

func servesHost(vs *unstructured.Unstructured, t Target) bool {
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	for _, h := range hosts {
		if policies.ResolveHost(h, vs.GetNamespace(), t.domain()) == t.FQDN() {
			return true
		}
	}
	return false
}

// forMesh reports whether the VirtualService applies to sidecars: no
// gateways at all, or the reserved gateway "mesh" among them.
func forMesh(vs *unstructured.Unstructured) bool {
	gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
	if len(gws) == 0 {
		return true
	}
	for _, g := range gws {
		if g == policies.MeshGateway {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- DestinationRule

// CircuitBreaker holds the connection pool and outlier detection settings;
// nil and "" fields are left as they are.
type CircuitBreaker struct {
	MaxConnections           *int64
	HTTP1MaxPendingRequests  *int64
	MaxRequestsPerConnection *int64
	ConsecutiveGatewayErrors *int64
	Consecutive5xxErrors     *int64
	Interval                 string
	BaseEjectionTime         string
	MaxEjectionPercent       *int64
}

func (cb CircuitBreaker) settings() []setting {
	return []setting{
		{[]string{"connectionPool", "tcp", "maxConnections"}, intOrNil(cb.MaxConnections)},
		{[]string{"connectionPool", "http", "http1MaxPendingRequests"}, intOrNil(cb.HTTP1MaxPendingRequests)},
		{[]string{"connectionPool", "http", "maxRequestsPerConnection"}, intOrNil(cb.MaxRequestsPerConnection)},
		{[]string{"outlierDetection", "consecutiveGatewayErrors"}, intOrNil(cb.ConsecutiveGatewayErrors)},
		{[]string{"outlierDetection", "consecutive5xxErrors"}, intOrNil(cb.Consecutive5xxErrors)},
		{[]string{"outlierDetection", "interval"}, stringOrNil(cb.Interval)},
		{[]string{"outlierDetection", "baseEjectionTime"}, stringOrNil(cb.BaseEjectionTime)},
		{[]string{"outlierDetection", "maxEjectionPercent"}, intOrNil(cb.MaxEjectionPercent)},
	}
}

// IsEmpty reports whether no setting is given.
func (cb CircuitBreaker) IsEmpty() bool {
	for _, s := range cb.settings() {
		if s.value != nil {
			return false
		}
	}
	return true
}

type setting struct {
	path  []string
	value any
}

func intOrNil(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func stringOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SetCircuitBreaker merges the settings into the host's DestinationRule,
// creating one (named after the service, host as given) when none exists.
//
// trafficPolicy is a structure, not a list, in Istio's CRD: server-side
// apply merges it field by field. The applied object is what kubectl-mesh
// already owns plus the new settings, so earlier settings stay and fields
// other tools set (tls, subsets, ...) are neither sent nor claimed.
func SetCircuitBreaker(t Target, s *State, cb CircuitBreaker) apply.Step {
	obj := drBase(t, s.DestinationRule)
	for _, st := range cb.settings() {
		if st.value == nil {
			continue
		}
		path := append([]string{"spec", "trafficPolicy"}, st.path...)
		if err := unstructured.SetNestedField(obj.Object, st.value, path...); err != nil {
			panic(err) // the path holds maps only: cannot fail
		}
	}
	return apply.Step{
		Object: obj,
		Result: apply.Merged(s.DestinationRule, obj, apply.FieldManager),
		What:   "destinationrule/" + obj.GetName() + ": circuit breaker",
	}
}

func drBase(t Target, live *unstructured.Unstructured) *unstructured.Unstructured {
	if live != nil {
		return apply.Owned(live, apply.FieldManager)
	}
	obj := canary.NewObject("DestinationRule", t.Namespace, t.objectName())
	obj.Object["spec"] = map[string]any{"host": t.Host}
	return obj
}

// ---------------------------------------------------------------- VirtualService

// Retry is a retry policy; zero fields are left as they are.
type Retry struct {
	Attempts      *int64
	PerTryTimeout string
	RetryOn       string
}

// Fault injects a delay, an abort, or both; a zero part is left as it is.
type Fault struct {
	Delay        string
	DelayPercent float64
	AbortStatus  int64
	AbortPercent float64
}

// RouteChange edits one http route in place.
type RouteChange func(route map[string]any)

// Timeout sets the route's timeout.
func Timeout(d string) RouteChange {
	return func(r map[string]any) { r["timeout"] = d }
}

// SetRetry merges the policy into the route's retries.
func SetRetry(p Retry) RouteChange {
	return func(r map[string]any) {
		retries, _ := r["retries"].(map[string]any)
		if retries == nil {
			retries = map[string]any{}
		}
		if p.Attempts != nil {
			retries["attempts"] = *p.Attempts
		}
		if p.PerTryTimeout != "" {
			retries["perTryTimeout"] = p.PerTryTimeout
		}
		if p.RetryOn != "" {
			retries["retryOn"] = p.RetryOn
		}
		r["retries"] = retries
	}
}

// SetFault sets the route's delay and/or abort, keeping the other one.
func SetFault(f Fault) RouteChange {
	return func(r map[string]any) {
		fault, _ := r["fault"].(map[string]any)
		if fault == nil {
			fault = map[string]any{}
		}
		if f.Delay != "" {
			fault["delay"] = map[string]any{"fixedDelay": f.Delay, "percentage": map[string]any{"value": f.DelayPercent}}
		}
		if f.AbortStatus != 0 {
			fault["abort"] = map[string]any{"httpStatus": f.AbortStatus, "percentage": map[string]any{"value": f.AbortPercent}}
		}
		r["fault"] = fault
	}
}

// ChangeRoutes applies the change to the http routes of the host's mesh
// VirtualService (every route, or the one named by Target.Route), creating
// a VirtualService (named after the service, hosts the short name, one
// route to the host) when none exists.
//
// Istio's CRD declares spec.http an atomic list: server-side apply
// replaces it whole and cannot merge one route's field into it. So the
// whole list is read, changed and applied back, with the resourceVersion
// read as a precondition: a concurrent edit makes the apply fail instead of
// being overwritten. kubectl-mesh then owns spec.http as a whole.
//
// Changes merge: the route's other resilience settings (timeout, retries,
// fault) stay, and what says which. With replace the route holds this
// setting alone: the others go, and so do the parts of an earlier one of
// the same kind that the change does not set (the delay of a fault when
// an abort replaces it), so going from the timeout step to the retries
// step leaves only the retries.
func ChangeRoutes(t Target, s *State, what string, change RouteChange, replace bool) (apply.Step, error) {
	obj, http, err := vsBase(t, s.VirtualService)
	if err != nil {
		return apply.Step{}, err
	}
	what, err = changeEach(http, t.Route, what, change, replace, resilienceFields)
	if err != nil {
		return apply.Step{}, refuse("VirtualService %s %v", obj.GetName(), err)
	}
	return vsStep(s.VirtualService, obj, http, what), nil
}

// changeEach applies the change to every route of the list (or the one
// named route) in place, and returns what extended by the other settings
// among fields that the routes keep or, with replace, lose.
func changeEach(routes []any, name, what string, change RouteChange, replace bool, fields []string) (string, error) {
	// The fields the change writes, whatever the route held.
	sets := map[string]any{}
	change(sets)
	changed := 0
	others := map[string]bool{}
	for i, r := range routes {
		route, ok := r.(map[string]any)
		if !ok || (name != "" && route["name"] != name) {
			continue
		}
		before := route
		route = runtime.DeepCopyJSON(route)
		if replace {
			for _, f := range fields {
				delete(route, f)
			}
		}
		change(route)
		for _, f := range fields {
			old, had := before[f]
			if !had {
				continue
			}
			if _, set := sets[f]; !set {
				others[describeSetting(f, old)] = true
				continue
			}
			for _, part := range droppedParts(old, route[f]) {
				others[f+"."+part] = true
			}
		}
		routes[i] = route
		changed++
	}
	if changed == 0 {
		return "", fmt.Errorf("has no http route named %s", name)
	}
	if len(others) > 0 {
		verb := "kept"
		if replace {
			verb = "removed (--replace)"
		}
		what += "; " + strings.Join(sortedKeys(others), ", ") + " " + verb
	}
	return what, nil
}

// resilienceFields are a route's resilience settings, as the commands name
// them in Istio's spelling.
var resilienceFields = []string{"timeout", "retries", "fault"}

// droppedParts are the keys of an earlier setting that its replacement
// lacks (delay, when a fault that delayed now only aborts).
func droppedParts(old, replacement any) []string {
	o, _ := old.(map[string]any)
	r, _ := replacement.(map[string]any)
	var out []string
	for k := range o {
		if _, kept := r[k]; !kept {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// describeSetting names a setting for a message: the timeout with its value.
func describeSetting(field string, v any) string {
	if d, ok := v.(string); ok && field == "timeout" {
		return "timeout " + d
	}
	return field
}

func vsBase(t Target, live *unstructured.Unstructured) (*unstructured.Unstructured, []any, error) {
	if live == nil {
		name := t.VirtualService
		if name == "" {
			name = t.objectName()
		}
		obj := canary.NewObject("VirtualService", t.Namespace, name)
		obj.Object["spec"] = map[string]any{"hosts": []any{t.shortHost()}}
		route := map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": t.shortHost()}}}}
		if t.Route != "" {
			route["name"] = t.Route
		}
		return obj, []any{route}, nil
	}
	obj := apply.Owned(live, apply.FieldManager)
	obj.SetResourceVersion(live.GetResourceVersion())
	http, _, err := unstructured.NestedSlice(live.Object, "spec", "http")
	if err != nil {
		return nil, nil, fmt.Errorf("VirtualService %s: spec.http: %w", live.GetName(), err)
	}
	if len(http) == 0 {
		return nil, nil, refuse("VirtualService %s has no http routes to change", live.GetName())
	}
	return obj, http, nil
}

func vsStep(live, obj *unstructured.Unstructured, http []any, what string) apply.Step {
	if err := unstructured.SetNestedSlice(obj.Object, http, "spec", "http"); err != nil {
		panic(err) // the path holds maps only: cannot fail
	}
	return apply.Step{
		Object: obj,
		Result: apply.Merged(live, obj, apply.FieldManager),
		What:   "virtualservice/" + obj.GetName() + ": " + what,
	}
}

// ---------------------------------------------------------------- clear

// Settings that clear removes.
const (
	WhatCircuitBreaker = "circuit-breaker"
	WhatTimeout        = "timeout"
	WhatRetry          = "retry"
	WhatFault          = "fault"
)

// AllSettings lists what clear removes by default.
var AllSettings = []string{WhatCircuitBreaker, WhatTimeout, WhatRetry, WhatFault}

var routeFields = map[string]string{WhatTimeout: resilienceFields[0], WhatRetry: resilienceFields[1], WhatFault: resilienceFields[2]}

// Clear removes the named settings, whoever set them: the route fields
// with the whole http list (as ChangeRoutes does), the circuit breaker
// with a JSON patch that removes connectionPool and outlierDetection from
// the DestinationRule's trafficPolicy, conditional on the resourceVersion
// read. Settings that are not there produce no step.
func Clear(t Target, s *State, what []string) ([]apply.Step, error) {
	var steps []apply.Step
	var fields []string
	for _, w := range what {
		if f, ok := routeFields[w]; ok {
			fields = append(fields, f)
		}
	}
	if len(fields) > 0 && s.VirtualService != nil {
		obj, http, err := vsBase(t, s.VirtualService)
		if err != nil {
			return nil, err
		}
		removed := removeEach(http, t.Route, fields)
		switch {
		case len(removed) > 0:
			steps = append(steps, orDelete(t, s.VirtualService, vsStep(s.VirtualService, obj, http, "removed "+strings.Join(sortedKeys(removed), ", "))))
		case emptyShell(t, s.VirtualService, s.VirtualService):
			// Left empty before clear deleted such objects.
			steps = append(steps, deletion(s.VirtualService))
		}
	}
	if slices.Contains(what, WhatCircuitBreaker) && s.DestinationRule != nil {
		if step, ok := clearCircuitBreaker(s.DestinationRule); ok {
			steps = append(steps, orDelete(t, s.DestinationRule, step))
		} else if emptyShell(t, s.DestinationRule, s.DestinationRule) {
			steps = append(steps, deletion(s.DestinationRule))
		}
	}
	return steps, nil
}

// removeEach removes the fields from every route of the list (or the one
// named route) in place, and returns those it found.
func removeEach(routes []any, name string, fields []string) map[string]bool {
	removed := map[string]bool{}
	for i, r := range routes {
		route, ok := r.(map[string]any)
		if !ok || (name != "" && route["name"] != name) {
			continue
		}
		route = runtime.DeepCopyJSON(route)
		for _, f := range fields {
			if _, has := route[f]; has {
				delete(route, f)
				removed[f] = true
			}
		}
		routes[i] = route
	}
	return removed
}

// orDelete turns a step that would leave an empty shell into one that
// deletes the object.
func orDelete(t Target, live *unstructured.Unstructured, step apply.Step) apply.Step {
	if !emptyShell(t, live, step.Result) {
		return step
	}
	return deletion(live)
}

func deletion(live *unstructured.Unstructured) apply.Step {
	return apply.Deletion(live, strings.ToLower(live.GetKind())+"/"+live.GetName()+" deleted")
}

// emptyShell reports whether result, what clearing leaves of live, is no
// more than what kubectl-mesh wrote when it created the object for the
// host, before any setting: a DestinationRule with only its host, a
// VirtualService with only the host and one plain route to it, an
// HTTPRoute with only the Service as parent and backend. Deleting
// it then loses nothing anybody asked for. Anything else keeps it: no
// managed-by label (made by hand, or by another tool), another field
// manager, a label or annotation of someone's, subsets, a gateway, a
// match, a second route, a subset or port on the destination.
func emptyShell(t Target, live, result *unstructured.Unstructured) bool {
	if live.GetLabels()[apply.ManagedByLabel] != apply.ManagedBy || len(live.GetLabels()) != 1 || len(live.GetAnnotations()) != 0 {
		return false
	}
	for _, mf := range live.GetManagedFields() {
		// Status is the control plane's, not something anyone added.
		if mf.Manager != apply.FieldManager && mf.Subresource == "" {
			return false
		}
	}
	spec, _, _ := unstructured.NestedMap(result.Object, "spec")
	switch result.GetKind() {
	case policies.KindDestinationRule:
		return len(spec) == 1 && spec["host"] != nil
	case policies.KindVirtualService:
		hosts, _ := spec["hosts"].([]any)
		http, _ := spec["http"].([]any)
		if len(spec) != 2 || len(hosts) != 1 || !t.names(hosts[0]) || len(http) != 1 {
			return false
		}
		route, _ := http[0].(map[string]any)
		fields := len(route)
		if _, named := route["name"]; named {
			fields-- // a name changes nothing the route does
		}
		dests, _ := route["route"].([]any)
		if fields != 1 || len(dests) != 1 {
			return false
		}
		dest, _ := dests[0].(map[string]any)
		to, _ := dest["destination"].(map[string]any)
		return len(dest) == 1 && len(to) == 1 && t.names(to["host"])
	case policies.KindHTTPRoute:
		return emptyRoute(t, spec)
	}
	return false
}

// names reports whether a host field of the target's namespace is the
// target's host.
func (t Target) names(host any) bool {
	h, ok := host.(string)
	return ok && policies.ResolveHost(h, t.Namespace, t.domain()) == t.FQDN()
}

func clearCircuitBreaker(live *unstructured.Unstructured) (apply.Step, bool) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value,omitempty"`
	}
	ops := []op{{Op: "test", Path: "/metadata/resourceVersion", Value: live.GetResourceVersion()}}
	result := live.DeepCopy()
	unstructured.RemoveNestedField(result.Object, "metadata", "managedFields")
	var removed []string
	for _, f := range []string{"connectionPool", "outlierDetection"} {
		if _, found, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "trafficPolicy", f); found {
			ops = append(ops, op{Op: "remove", Path: "/spec/trafficPolicy/" + f})
			unstructured.RemoveNestedField(result.Object, "spec", "trafficPolicy", f)
			removed = append(removed, "trafficPolicy."+f)
		}
	}
	if len(removed) == 0 {
		return apply.Step{}, false
	}
	// An empty trafficPolicy is left out rather than left behind as {}.
	if tp, _, _ := unstructured.NestedMap(result.Object, "spec", "trafficPolicy"); len(tp) == 0 {
		ops = append(ops[:1], op{Op: "remove", Path: "/spec/trafficPolicy"})
		unstructured.RemoveNestedField(result.Object, "spec", "trafficPolicy")
	}
	patch, _ := json.Marshal(ops)
	return apply.Step{
		Object: apply.Skeleton(live),
		Patch:  patch,
		Result: result,
		What:   "destinationrule/" + live.GetName() + ": removed " + strings.Join(removed, ", "),
	}, true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
