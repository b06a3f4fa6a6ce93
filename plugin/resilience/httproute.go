package resilience

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/canary"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// The resources read to change a Service's HTTPRoute: the route, the
// Service it sends to, and the HTTPRoute CRD whose schema says whether
// the installed Gateway API has rules[].retry.
var (
	services = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	crds     = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// HTTPRouteCRD is the name of the Gateway API's HTTPRoute CRD.
const HTTPRouteCRD = "httproutes." + policies.GatewayAPIGroup

// gatewayFields are a rule's resilience settings in the Gateway API.
var gatewayFields = []string{"timeouts", "retry"}

var ruleFields = map[string]string{WhatTimeout: "timeouts", WhatRetry: "retry"}

// GatewayDuration is the Gateway API's duration format (GEP-2257): whole
// hours, minutes, seconds and milliseconds, as in 1m30s or 500ms.
var GatewayDuration = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)

// RouteRetry is an HTTPRoute rule's retry; zero fields are left as they are.
type RouteRetry struct {
	Attempts *int64
	Backoff  string
	Codes    []int64
}

// RetrySupport says whether the installed HTTPRoute CRD has rules[].retry,
// and which Gateway API it is, for the message when it has not.
type RetrySupport struct {
	Supported bool
	// Bundle is the CRD's bundle version and channel, e.g. v1.6.0 standard.
	Bundle string
}

// LoadHTTPRoute finds the HTTPRoute whose parent is the host's Service, and
// the Service itself (its ports shape a route that has to be created). The
// host must be a Service of the namespace: the Gateway API routes mesh
// traffic by Service.
func LoadHTTPRoute(ctx context.Context, dyn dynamic.Interface, t Target) (*State, error) {
	ns, name, ok := policies.ServiceFromFQDN(t.FQDN(), t.domain())
	if !ok || ns != t.Namespace {
		return nil, refuse("with --api gateway HOST must be a Service of namespace %s (an HTTPRoute's parent), not %s", t.Namespace, t.Host)
	}
	routes, err := dyn.Resource(canary.HTTPRoutes).Namespace(t.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, refuse("the cluster does not serve %s: are the Gateway API's CRDs installed? (kubectl mesh install --gateway-api)", canary.HTTPRoutes.GroupResource())
	}
	if err != nil {
		return nil, fmt.Errorf("listing HTTPRoutes of %s: %w", t.Namespace, err)
	}
	s := &State{}
	if s.HTTPRoute, err = canary.ChooseHTTPRoute(routes.Items, canary.Target{Namespace: t.Namespace, Service: name}); err != nil {
		return nil, err
	}
	if s.HTTPRoute != nil && !canary.ServiceParent(s.HTTPRoute, name) {
		return nil, refuse("HTTPRoute %s exists but does not have service %s as parent", s.HTTPRoute.GetName(), name)
	}
	svc, err := dyn.Resource(services).Namespace(t.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && s.HTTPRoute == nil:
		return nil, refuse("service %s not found in namespace %s", name, t.Namespace)
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading service %s/%s: %w", t.Namespace, name, err)
	case err == nil:
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		for _, p := range ports {
			if n, ok := policies.IntValue(p.(map[string]any)["port"]); ok {
				s.ServicePorts = append(s.ServicePorts, n)
			}
		}
	}
	return s, nil
}

// LoadRetrySupport reads the HTTPRoute CRD from the cluster and tells
// whether its served v1 schema has rules[].retry (the standard channel
// lacks it up to v1.6 at least; the experimental channel has it).
func LoadRetrySupport(ctx context.Context, dyn dynamic.Interface) (RetrySupport, error) {
	crd, err := dyn.Resource(crds).Get(ctx, HTTPRouteCRD, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return RetrySupport{}, refuse("CRD %s not found: are the Gateway API's CRDs installed? (kubectl mesh install --gateway-api)", HTTPRouteCRD)
	}
	if err != nil {
		return RetrySupport{}, fmt.Errorf("reading CRD %s: %w", HTTPRouteCRD, err)
	}
	return retrySupportOf(crd), nil
}

func retrySupportOf(crd *unstructured.Unstructured) RetrySupport {
	a := crd.GetAnnotations()
	out := RetrySupport{Bundle: strings.TrimSpace(a[policies.GatewayAPIGroup+"/bundle-version"] + " " + a[policies.GatewayAPIGroup+"/channel"])}
	if out.Bundle == "" {
		out.Bundle = "of unknown version"
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] != "v1" {
			continue
		}
		_, found, _ := unstructured.NestedMap(m, "schema", "openAPIV3Schema", "properties", "spec", "properties", "rules", "items", "properties", "retry")
		out.Supported = found
	}
	return out
}

// Check refuses a retry the installed Gateway API cannot hold.
func (r RetrySupport) Check() error {
	if r.Supported {
		return nil
	}
	return refuse("the installed Gateway API (%s) lacks HTTPRoute retry: CRD %s has no spec.rules[].retry; install a Gateway API whose HTTPRoute has it (the experimental channel), or use --api istio", r.Bundle, HTTPRouteCRD)
}

// RequestTimeout sets the rule's timeouts.request, keeping backendRequest.
func RequestTimeout(d string) RouteChange {
	return func(r map[string]any) {
		timeouts, _ := r["timeouts"].(map[string]any)
		if timeouts == nil {
			timeouts = map[string]any{}
		}
		timeouts["request"] = d
		r["timeouts"] = timeouts
	}
}

// SetRouteRetry merges the policy into the rule's retry.
func SetRouteRetry(p RouteRetry) RouteChange {
	return func(r map[string]any) {
		retry, _ := r["retry"].(map[string]any)
		if retry == nil {
			retry = map[string]any{}
		}
		if p.Attempts != nil {
			retry["attempts"] = *p.Attempts
		}
		if p.Backoff != "" {
			retry["backoff"] = p.Backoff
		}
		if len(p.Codes) > 0 {
			codes := make([]any, len(p.Codes))
			for i, c := range p.Codes {
				codes[i] = c
			}
			retry["codes"] = codes
		}
		r["retry"] = retry
	}
}

// ChangeRules applies the change to the rules of the host's HTTPRoute
// (every rule, or the one named by Target.Route) as ChangeRoutes does to a
// VirtualService's http routes: the Gateway API's CRD declares rules an
// atomic list too. When the Service has no HTTPRoute, one is created for
// it: parent the Service, one rule sending everything to it.
func ChangeRules(t Target, s *State, what string, change RouteChange, replace bool) (apply.Step, error) {
	obj, rules, err := routeBase(t, s)
	if err != nil {
		return apply.Step{}, err
	}
	what, err = changeEach(rules, t.Route, what, change, replace, gatewayFields)
	if err != nil {
		return apply.Step{}, refuse("HTTPRoute %s %v", obj.GetName(), strings.Replace(err.Error(), "http route", "rule", 1))
	}
	return routeStep(s.HTTPRoute, obj, rules, what), nil
}

// ClearRules removes the route settings of what (timeout, retry) from the
// HTTPRoute's rules, whoever set them; an HTTPRoute kubectl-mesh created
// that is left as it made it is deleted.
func ClearRules(t Target, s *State, what []string) ([]apply.Step, error) {
	var fields []string
	for _, w := range what {
		if f, ok := ruleFields[w]; ok {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 || s.HTTPRoute == nil {
		return nil, nil
	}
	obj, rules, err := routeBase(t, s)
	if err != nil {
		return nil, err
	}
	removed := removeEach(rules, t.Route, fields)
	switch {
	case len(removed) > 0:
		return []apply.Step{orDelete(t, s.HTTPRoute, routeStep(s.HTTPRoute, obj, rules, "removed "+strings.Join(sortedKeys(removed), ", ")))}, nil
	case emptyShell(t, s.HTTPRoute, s.HTTPRoute):
		return []apply.Step{deletion(s.HTTPRoute)}, nil
	}
	return nil, nil
}

func routeBase(t Target, s *State) (*unstructured.Unstructured, []any, error) {
	if live := s.HTTPRoute; live != nil {
		obj := apply.Owned(live, apply.FieldManager)
		obj.SetResourceVersion(live.GetResourceVersion())
		rules, _, err := unstructured.NestedSlice(live.Object, "spec", "rules")
		if err != nil {
			return nil, nil, fmt.Errorf("HTTPRoute %s: spec.rules: %w", live.GetName(), err)
		}
		if len(rules) == 0 {
			return nil, nil, refuse("HTTPRoute %s has no rules to change", live.GetName())
		}
		return obj, rules, nil
	}
	if len(s.ServicePorts) != 1 {
		return nil, nil, refuse("service %s has %d ports: create its HTTPRoute first, naming the port its backendRef sends to", t.objectName(), len(s.ServicePorts))
	}
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	obj.SetAPIVersion(canary.GatewayAPIVersion)
	obj.SetKind(policies.KindHTTPRoute)
	obj.SetNamespace(t.Namespace)
	obj.SetName(t.objectName())
	obj.SetLabels(map[string]string{apply.ManagedByLabel: apply.ManagedBy})
	obj.Object["spec"] = map[string]any{"parentRefs": []any{map[string]any{"group": "", "kind": "Service", "name": t.objectName()}}}
	rule := map[string]any{"backendRefs": []any{map[string]any{"name": t.objectName(), "port": s.ServicePorts[0]}}}
	if t.Route != "" {
		rule["name"] = t.Route
	}
	return obj, []any{rule}, nil
}

func routeStep(live, obj *unstructured.Unstructured, rules []any, what string) apply.Step {
	if err := unstructured.SetNestedSlice(obj.Object, rules, "spec", "rules"); err != nil {
		panic(err) // the path holds maps only: cannot fail
	}
	return apply.Step{
		Object: obj,
		Result: apply.Merged(live, obj, apply.FieldManager),
		What:   "httproute/" + obj.GetName() + ": " + what,
	}
}

// emptyRoute reports whether an HTTPRoute's spec is what routeBase makes:
// the Service as its only parent and one rule sending to it alone.
func emptyRoute(t Target, spec map[string]any) bool {
	parents, _ := spec["parentRefs"].([]any)
	rules, _ := spec["rules"].([]any)
	if len(spec) != 2 || len(parents) != 1 || len(rules) != 1 {
		return false
	}
	parent, _ := parents[0].(map[string]any)
	rule, _ := rules[0].(map[string]any)
	fields := len(rule)
	if _, named := rule["name"]; named {
		fields--
	}
	refs, _ := rule["backendRefs"].([]any)
	if fields != 1 || len(refs) != 1 || parent["name"] != t.objectName() || parent["kind"] != "Service" {
		return false
	}
	ref, _ := refs[0].(map[string]any)
	_, hasPort := ref["port"]
	return ref["name"] == t.objectName() && len(ref) == 2 && hasPort
}
