package webhook

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// APIReader is a LiveReader over the API server: it re-reads exactly what
// one review references (Services, ServiceEntries, DestinationRules of the
// namespaces Istio would look in, Gateways, and the VirtualServices said to
// use the object) and lays them over the informer cache.
type APIReader struct {
	Client        dynamic.Interface
	IstioVersion  string
	ClusterDomain string
	RootNamespace string
	// GatewayAPI are the Gateway API resources served (GatewayAPIResources):
	// Gateways and ReferenceGrants a route refers to are re-read there.
	GatewayAPI []schema.GroupVersionResource
}

// gatewayAPI returns the served version of a Gateway API resource.
func (a *APIReader) gatewayAPI(resource string) (schema.GroupVersionResource, bool) {
	for _, gvr := range a.GatewayAPI {
		if gvr.Resource == resource {
			return gvr, true
		}
	}
	return schema.GroupVersionResource{}, false
}

func (a *APIReader) istio(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: policies.IstioNetworkingGroup, Version: a.IstioVersion, Resource: resource}
}

var servicesGVR = schema.GroupVersionResource{Version: "v1", Resource: "services"}

// Overlay implements LiveReader.
func (a *APIReader) Overlay(ctx context.Context, r policies.Review, base policies.Inventory) (policies.Inventory, error) {
	o := &overlay{
		base: base, live: policies.NewIndex(a.ClusterDomain),
		services: map[string]bool{}, gateways: map[string]bool{}, drNamespaces: map[string]bool{}, seNamespaces: map[string]bool{},
		vs: map[string]*policies.VirtualService{}, kubeGateways: map[string]bool{}, grantNamespaces: map[string]bool{},
		routes: map[string]*policies.KubeRoute{},
	}
	subject := r.Object
	if subject == nil {
		subject = r.OldObject
	}
	ns := subject.Namespace()
	facts := policies.BuildFacts(r, base, policies.Settings{ClusterDomain: a.ClusterDomain, RootNamespace: a.RootNamespace})
	namespaces := map[string]bool{ns: true, a.RootNamespace: true}
	for _, h := range facts.Hosts {
		if svcNS, name, ok := policies.ServiceFromFQDN(h.FQDN, a.ClusterDomain); ok {
			namespaces[svcNS] = true
			if err := a.get(ctx, o, servicesGVR, svcNS, name); err != nil {
				return nil, err
			}
			o.services[svcNS+"/"+name] = true
		} else {
			// ServiceEntries are read from the namespaces a new one is
			// likely in (the object's own and the root namespace) and
			// from those the cache already finds one for the host in:
			// never with a cluster-wide list per review.
			seNamespaces := []string{ns, a.RootNamespace}
			for _, se := range base.ServiceEntriesForHost(h.FQDN) {
				seNamespaces = append(seNamespaces, se.Namespace)
			}
			for _, n := range seNamespaces {
				if o.seNamespaces[n] {
					continue
				}
				if err := a.list(ctx, o, a.istio("serviceentries"), n); err != nil {
					return nil, err
				}
				o.seNamespaces[n] = true
			}
		}
		if h.Kind == policies.KindServiceEntry {
			if i := strings.IndexByte(h.Name, '/'); i > 0 {
				namespaces[h.Name[:i]] = true
			}
		}
	}
	if len(facts.Hosts) > 0 {
		for n := range namespaces {
			if err := a.list(ctx, o, a.istio("destinationrules"), n); err != nil {
				return nil, err
			}
			o.drNamespaces[n] = true
		}
	}
	for _, g := range facts.Gateways {
		if err := a.get(ctx, o, a.istio("gateways"), g.Namespace, g.Name); err != nil {
			return nil, err
		}
		o.gateways[g.Key] = true
	}
	if err := a.routeReferences(ctx, o, facts); err != nil {
		return nil, err
	}
	if err := a.routeUses(ctx, o, facts); err != nil {
		return nil, err
	}
	for _, u := range facts.UsedBy {
		vsNS, name, _ := strings.Cut(u.VirtualService, "/")
		if _, done := o.vs[u.VirtualService]; done {
			continue
		}
		obj, err := a.Client.Resource(a.istio("virtualservices")).Namespace(vsNS).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			o.vs[u.VirtualService] = nil
		case err != nil:
			return nil, fmt.Errorf("reading VirtualService %s: %w", u.VirtualService, err)
		default:
			o.live.Add(policies.NewObject(obj.Object, policies.Source{}))
			o.vs[u.VirtualService] = o.live.VirtualServiceNamed(vsNS, name)
		}
	}
	return o, nil
}

// routeReferences re-reads what a Gateway API route refers to: the
// Services of its backendRefs and parentRefs, its parent Gateways, and the
// ReferenceGrants of the namespaces it routes to.
func (a *APIReader) routeReferences(ctx context.Context, o *overlay, facts *policies.Facts) error {
	service := func(ns, name string) error {
		if o.services[ns+"/"+name] {
			return nil
		}
		o.services[ns+"/"+name] = true
		return a.get(ctx, o, servicesGVR, ns, name)
	}
	for _, b := range facts.BackendRefs {
		if b.Kind == policies.KindService && b.Group == "" {
			if err := service(b.Namespace, b.Name); err != nil {
				return err
			}
		}
		if gvr, ok := a.gatewayAPI("referencegrants"); ok && b.CrossNamespace && !o.grantNamespaces[b.Namespace] {
			if err := a.list(ctx, o, gvr, b.Namespace); err != nil {
				return err
			}
			o.grantNamespaces[b.Namespace] = true
		}
	}
	for _, p := range facts.ParentRefs {
		switch {
		case p.Kind == policies.KindService:
			if err := service(p.Namespace, p.Name); err != nil {
				return err
			}
		case p.Group == policies.GatewayAPIGroup && p.Kind == policies.KindGateway:
			gvr, ok := a.gatewayAPI("gateways")
			if !ok || o.kubeGateways[p.Namespace+"/"+p.Name] {
				continue
			}
			if err := a.get(ctx, o, gvr, p.Namespace, p.Name); err != nil {
				return err
			}
			o.kubeGateways[p.Namespace+"/"+p.Name] = true
		}
	}
	return nil
}

// routeUses re-reads the routes said to break, so that one deleted or
// changed a moment ago does not hold up the change under review.
func (a *APIReader) routeUses(ctx context.Context, o *overlay, facts *policies.Facts) error {
	for _, u := range facts.RouteUses {
		kind, ref, _ := strings.Cut(u.Route, " ")
		ns, name, _ := strings.Cut(ref, "/")
		k := kind + "/" + ref
		gvr, ok := a.gatewayAPI(strings.ToLower(kind) + "s")
		if _, done := o.routes[k]; done || !ok {
			continue
		}
		obj, err := a.Client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			o.routes[k] = nil
		case err != nil:
			return fmt.Errorf("reading %s %s: %w", kind, ref, err)
		default:
			o.live.Add(policies.NewObject(obj.Object, policies.Source{}))
			o.routes[k] = o.live.RouteNamed(kind, ns, name)
		}
	}
	return nil
}

func (a *APIReader) get(ctx context.Context, o *overlay, gvr schema.GroupVersionResource, ns, name string) error {
	obj, err := a.Client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	o.live.Add(policies.NewObject(obj.Object, policies.Source{}))
	return nil
}

func (a *APIReader) list(ctx context.Context, o *overlay, gvr schema.GroupVersionResource, ns string) error {
	list, err := a.Client.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing %s in %q: %w", gvr.Resource, ns, err)
	}
	for i := range list.Items {
		o.live.Add(policies.NewObject(list.Items[i].Object, policies.Source{}))
	}
	return nil
}

// overlay answers from the live reads where they were made and from the
// cache elsewhere.
type overlay struct {
	base         policies.Inventory
	live         *policies.Index
	services     map[string]bool
	gateways     map[string]bool
	drNamespaces map[string]bool
	seNamespaces map[string]bool // ServiceEntries read live here
	// vs holds the VirtualServices re-read live; nil where one is gone.
	vs map[string]*policies.VirtualService
	// Gateway API Gateways and the namespaces whose ReferenceGrants were
	// read live.
	kubeGateways, grantNamespaces map[string]bool
	// routes holds the routes re-read live, by kind/namespace/name; nil
	// where one is gone.
	routes map[string]*policies.KubeRoute
}

func (o *overlay) Service(namespace, name string) *policies.Service {
	if o.services[namespace+"/"+name] {
		return o.live.Service(namespace, name)
	}
	return o.base.Service(namespace, name)
}

func (o *overlay) ServicesNamed(name string) []*policies.Service { return o.base.ServicesNamed(name) }

func (o *overlay) ServicesIn(namespace string) []*policies.Service {
	return o.base.ServicesIn(namespace)
}

func (o *overlay) ServiceEntriesForHost(fqdn string) []*policies.ServiceEntry {
	out := o.live.ServiceEntriesForHost(fqdn)
	for _, se := range o.base.ServiceEntriesForHost(fqdn) {
		if !o.seNamespaces[se.Namespace] {
			out = append(out, se)
		}
	}
	return out
}

func (o *overlay) DestinationRulesFor(namespace, fqdn string) []*policies.DestinationRule {
	if o.drNamespaces[namespace] {
		return o.live.DestinationRulesFor(namespace, fqdn)
	}
	return o.base.DestinationRulesFor(namespace, fqdn)
}

func (o *overlay) DestinationRulesForAnywhere(fqdn string) []*policies.DestinationRule {
	return o.base.DestinationRulesForAnywhere(fqdn)
}

func (o *overlay) Gateway(namespace, name string) *policies.Gateway {
	if o.gateways[namespace+"/"+name] {
		return o.live.Gateway(namespace, name)
	}
	return o.base.Gateway(namespace, name)
}

func (o *overlay) HTTPPortServed(port int64, client string) bool {
	return o.base.HTTPPortServed(port, client)
}

func (o *overlay) HTTPPortClients(port int64) []string { return o.base.HTTPPortClients(port) }

func (o *overlay) CountWorkloads(namespace string, selectors ...map[string]string) (int, bool) {
	return o.base.CountWorkloads(namespace, selectors...)
}

// fresh replaces cached VirtualServices by their live versions and drops
// those that are gone.
func (o *overlay) fresh(list []*policies.VirtualService) []*policies.VirtualService {
	var out []*policies.VirtualService
	for _, vs := range list {
		k := vs.Namespace + "/" + vs.Name
		live, checked := o.vs[k]
		switch {
		case !checked:
			out = append(out, vs)
		case live != nil:
			out = append(out, live)
		}
	}
	return out
}

func (o *overlay) VirtualServicesRoutingTo(fqdn string) []*policies.VirtualService {
	return o.fresh(o.base.VirtualServicesRoutingTo(fqdn))
}

func (o *overlay) VirtualServicesBoundTo(namespace, name string) []*policies.VirtualService {
	return o.fresh(o.base.VirtualServicesBoundTo(namespace, name))
}

func (o *overlay) KubeGateway(namespace, name string) *policies.KubeGateway {
	if o.kubeGateways[namespace+"/"+name] {
		return o.live.KubeGateway(namespace, name)
	}
	return o.base.KubeGateway(namespace, name)
}

func (o *overlay) ReferenceGrantsIn(namespace string) []*policies.ReferenceGrant {
	if o.grantNamespaces[namespace] {
		return o.live.ReferenceGrantsIn(namespace)
	}
	return o.base.ReferenceGrantsIn(namespace)
}

// RoutesReferringTo answers from the cache, with the routes re-read live
// in place of their cached versions.
func (o *overlay) RoutesReferringTo(namespace string) []*policies.KubeRoute {
	var out []*policies.KubeRoute
	for _, r := range o.base.RoutesReferringTo(namespace) {
		live, checked := o.routes[r.Kind+"/"+r.Namespace+"/"+r.Name]
		switch {
		case !checked:
			out = append(out, r)
		case live != nil:
			out = append(out, live)
		}
	}
	return out
}
