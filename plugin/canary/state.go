package canary

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// The Istio resources canary reads and writes.
var (
	VirtualServices  = schema.GroupVersionResource{Group: policies.IstioNetworkingGroup, Version: "v1", Resource: "virtualservices"}
	DestinationRules = schema.GroupVersionResource{Group: policies.IstioNetworkingGroup, Version: "v1", Resource: "destinationrules"}
)

// Load reads the Service, its VirtualService and DestinationRule and the
// namespace's Deployments.
func Load(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, t Target) (*State, error) {
	s, err := loadWorkloads(ctx, kube, t)
	if err != nil {
		return nil, err
	}
	vss, err := dyn.Resource(VirtualServices).Namespace(t.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, refuse("the cluster does not serve %s: are Istio's CRDs installed? (kubectl mesh install)", VirtualServices.GroupResource())
	}
	if err != nil {
		return nil, fmt.Errorf("listing VirtualServices of %s: %w", t.Namespace, err)
	}
	if s.VirtualService, err = chooseVirtualService(vss.Items, t); err != nil {
		return nil, err
	}
	drs, err := dyn.Resource(DestinationRules).Namespace(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing DestinationRules of %s: %w", t.Namespace, err)
	}
	if s.DestinationRule, err = chooseDestinationRule(drs.Items, t); err != nil {
		return nil, err
	}
	return s, nil
}

// loadWorkloads reads the Service and the namespace's Deployments: what
// both routing APIs split traffic over.
func loadWorkloads(ctx context.Context, kube kubernetes.Interface, t Target) (*State, error) {
	s := &State{}
	svc, err := kube.CoreV1().Services(t.Namespace).Get(ctx, t.Service, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading service %s/%s: %w", t.Namespace, t.Service, err)
	default:
		s.ServiceFound, s.Selector, s.Ports = true, svc.Spec.Selector, svc.Spec.Ports
	}
	deps, err := kube.AppsV1().Deployments(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Deployments of %s: %w", t.Namespace, err)
	}
	for _, d := range deps.Items {
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		s.Workloads = append(s.Workloads, Workload{
			Kind: "Deployment", Name: d.Name, Labels: d.Spec.Template.Labels,
			Ready: d.Status.ReadyReplicas, Replicas: replicas,
		})
	}
	sort.Slice(s.Workloads, func(i, j int) bool { return s.Workloads[i].Name < s.Workloads[j].Name })
	return s, nil
}

// chooseVirtualService picks the VirtualService of the namespace whose
// http routes send traffic to the service. --virtual-service names it;
// among several, one bound to --gateway, then one named after the service
// wins; otherwise the user has to choose. An object with the name a new
// one would get is taken too, so creating never overwrites a stranger.
func chooseVirtualService(items []unstructured.Unstructured, t Target) (*unstructured.Unstructured, error) {
	name := t.VirtualService
	if name == "" {
		name = t.Service
	}
	if t.VirtualService != "" {
		return byName(items, name), nil
	}
	var candidates []*unstructured.Unstructured
	for i := range items {
		if routesTo(&items[i], t) {
			candidates = append(candidates, &items[i])
		}
	}
	if len(candidates) > 1 && t.Gateway != "" {
		var bound []*unstructured.Unstructured
		for _, vs := range candidates {
			gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
			for _, g := range gws {
				if policies.GatewayKey(g, vs.GetNamespace()) == policies.GatewayKey(t.Gateway, t.Namespace) {
					bound = append(bound, vs)
					break
				}
			}
		}
		if len(bound) > 0 {
			candidates = bound
		}
	}
	switch len(candidates) {
	case 0:
		return byName(items, name), nil
	case 1:
		return candidates[0], nil
	}
	names := make([]string, 0, len(candidates))
	for _, vs := range candidates {
		if vs.GetName() == name {
			return vs, nil
		}
		names = append(names, vs.GetName())
	}
	return nil, refuse("VirtualServices %s all route to %s; choose one with --virtual-service", strings.Join(names, ", "), t.FQDN())
}

func byName(items []unstructured.Unstructured, name string) *unstructured.Unstructured {
	for i := range items {
		if items[i].GetName() == name {
			return &items[i]
		}
	}
	return nil
}

func routesTo(vs *unstructured.Unstructured, t Target) bool {
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	for _, r := range http {
		m, _ := r.(map[string]any)
		dests, _ := m["route"].([]any)
		for _, d := range dests {
			dm, _ := d.(map[string]any)
			dest, _ := dm["destination"].(map[string]any)
			host, _ := dest["host"].(string)
			if policies.ResolveHost(host, vs.GetNamespace(), t.domain()) == t.FQDN() {
				return true
			}
		}
	}
	return false
}

// chooseDestinationRule picks the namespace's DestinationRule for the
// service's host; among several, the one named after the service.
func chooseDestinationRule(items []unstructured.Unstructured, t Target) (*unstructured.Unstructured, error) {
	var candidates []*unstructured.Unstructured
	for i := range items {
		host, _, _ := unstructured.NestedString(items[i].Object, "spec", "host")
		if policies.ResolveHost(host, items[i].GetNamespace(), t.domain()) == t.FQDN() {
			candidates = append(candidates, &items[i])
		}
	}
	switch len(candidates) {
	case 0:
		if other := byName(items, t.Service); other != nil {
			host, _, _ := unstructured.NestedString(other.Object, "spec", "host")
			return nil, refuse("DestinationRule %s exists for host %s, not %s", other.GetName(), host, t.FQDN())
		}
		return nil, nil
	case 1:
		return candidates[0], nil
	}
	names := make([]string, 0, len(candidates))
	for _, dr := range candidates {
		if dr.GetName() == t.Service {
			return dr, nil
		}
		names = append(names, dr.GetName())
	}
	return nil, refuse("DestinationRules %s are all for host %s; Istio applies only one of them: merge them first", strings.Join(names, ", "), t.FQDN())
}

// Status is the split of a service as `canary status` reports it.
type Status struct {
	Namespace      string `json:"namespace"`
	Service        string `json:"service"`
	Host           string `json:"host"`
	VirtualService string `json:"virtualService,omitempty"`
	HTTPRoute      string `json:"httpRoute,omitempty"`
	// API is "gateway" when the split is read from the Gateway API.
	API             string         `json:"api,omitempty"`
	Route           string         `json:"route"`
	DestinationRule string         `json:"destinationRule,omitempty"`
	Subsets         []SubsetStatus `json:"subsets"`
	History         History        `json:"history,omitempty"`
}

// SubsetStatus is one subset: its labels, its weight in the route, and
// the Deployments that run it.
type SubsetStatus struct {
	// Name is "" for a destination without a subset.
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Weight int               `json:"weight"`
	// Defined says whether the DestinationRule defines the subset (for
	// an HTTPRoute: whether the version's Service exists).
	Defined bool `json:"defined"`
	// Backend is the version's Service an HTTPRoute sends its share to.
	Backend   string     `json:"backend,omitempty"`
	Workloads []Workload `json:"workloads"`
}

// Weights returns the split the route holds.
func (s *Status) Weights() Weights {
	var w Weights
	for _, sub := range s.Subsets {
		if sub.Weight > 0 {
			w = append(w, Weight{Subset: sub.Name, Weight: sub.Weight})
		}
	}
	return w
}

// StatusOf reports the split of the service.
func StatusOf(t Target, s *State) (*Status, error) {
	st := &Status{Namespace: t.Namespace, Service: t.Service, Host: t.FQDN(), Route: t.Route, Subsets: []SubsetStatus{}}
	if st.Route == "" {
		st.Route = "(default)"
	}
	var weights Weights
	if s.VirtualService != nil {
		e, err := newRouteEditor(Target{Namespace: t.Namespace, Service: t.Service, Domain: t.Domain, Route: t.Route}, s.VirtualService)
		if err != nil {
			return nil, err
		}
		if weights, err = e.weights(); err != nil {
			return nil, err
		}
		st.VirtualService = s.VirtualService.GetName()
		if st.History, err = ParseHistory(s.VirtualService.GetAnnotations()[HistoryAnnotation]); err != nil {
			return nil, err
		}
	}
	dr := newSubsetEditor(t, s.DestinationRule, "")
	if s.DestinationRule != nil {
		st.DestinationRule = s.DestinationRule.GetName()
	}
	add := func(name string, defined bool) {
		st.Subsets = append(st.Subsets, subsetStatus(s, name, dr.labelsOf(name), weights.Of(name), defined))
	}
	// The route's order first, then the rule's subsets without traffic.
	for _, w := range weights {
		add(w.Subset, w.Subset == "" || dr.find(w.Subset) >= 0)
	}
	for _, name := range dr.names() {
		if !weights.Has(name) {
			add(name, true)
		}
	}
	return st, nil
}

// subsetStatus is a subset with the Deployments that run it: those whose
// pod template carries the Service's selector and the subset's labels.
func subsetStatus(s *State, name string, labels map[string]string, weight int, defined bool) SubsetStatus {
	want := map[string]string{}
	for k, v := range s.Selector {
		want[k] = v
	}
	for k, v := range labels {
		want[k] = v
	}
	workloads := matching(s.Workloads, want)
	if workloads == nil {
		workloads = []Workload{}
	}
	return SubsetStatus{Name: name, Labels: labels, Weight: weight, Defined: defined, Workloads: workloads}
}
