package webhook

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// ClusterInventory keeps a policies.Index in step with the cluster through
// informers on Services, ServiceEntries, DestinationRules, Gateways and
// VirtualServices. Pods are not watched: watching every pod of a cluster
// costs more memory than the subset warning is worth.
type ClusterInventory struct {
	*policies.Index
	factory dynamicinformer.DynamicSharedInformerFactory
	synced  []cache.InformerSynced
	// Resources are the resources watched, Istio's in the version served.
	Resources []schema.GroupVersionResource
}

// istioResources are watched in the first version the cluster serves.
var istioResources = []string{"serviceentries", "destinationrules", "gateways", "virtualservices"}

// IstioVersion returns the networking.istio.io version to use: v1 when
// served, else v1beta1, else v1alpha3.
func IstioVersion(disc discovery.DiscoveryInterface) (string, error) {
	for _, v := range []string{"v1", "v1beta1", "v1alpha3"} {
		list, err := disc.ServerResourcesForGroupVersion(policies.IstioNetworkingGroup + "/" + v)
		if apierrors.IsNotFound(err) || list == nil {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("asking the API server for %s/%s: %w", policies.IstioNetworkingGroup, v, err)
		}
		for _, r := range list.APIResources {
			if r.Name == "virtualservices" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("the cluster serves no %s API: are Istio's CRDs installed?", policies.IstioNetworkingGroup)
}

// NewClusterInventory sets up the informers; Start runs them.
func NewClusterInventory(client dynamic.Interface, istioVersion, clusterDomain string) *ClusterInventory {
	ci := &ClusterInventory{
		Index:   policies.NewIndex(clusterDomain),
		factory: dynamicinformer.NewDynamicSharedInformerFactory(client, 0),
	}
	ci.Resources = append(ci.Resources, schema.GroupVersionResource{Version: "v1", Resource: "services"})
	for _, r := range istioResources {
		ci.Resources = append(ci.Resources, schema.GroupVersionResource{Group: policies.IstioNetworkingGroup, Version: istioVersion, Resource: r})
	}
	for _, gvr := range ci.Resources {
		inf := ci.factory.ForResource(gvr).Informer()
		// Keep only what the checks read: managedFields, status and
		// last-applied annotations are most of an object's bytes.
		_ = inf.SetTransform(slimObject)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    ci.upsert,
			UpdateFunc: func(_, obj any) { ci.upsert(obj) },
			DeleteFunc: ci.remove,
		})
		ci.synced = append(ci.synced, inf.HasSynced)
	}
	return ci
}

// slimObject keeps only what the inventory reads, so the informer caches
// hold a fraction of each object: with 10,000 Services, DestinationRules and
// VirtualServices the process stayed above 200 MB with whole objects.
func slimObject(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	md := map[string]any{"name": u.GetName(), "namespace": u.GetNamespace(), "resourceVersion": u.GetResourceVersion(), "uid": string(u.GetUID())}
	if v, ok := u.GetAnnotations()["networking.istio.io/exportTo"]; ok {
		md["annotations"] = map[string]any{"networking.istio.io/exportTo": v}
	}
	spec, _ := u.Object["spec"].(map[string]any)
	u.Object = map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": md, "spec": slimSpec(u.GetKind(), spec)}
	return u, nil
}

// keep returns the listed keys of m.
func keep(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// keepEach applies f to every object of a list, leaving other items as they are.
func keepEach(v any, f func(map[string]any) map[string]any) any {
	items, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(items))
	for i, it := range items {
		if m, ok := it.(map[string]any); ok {
			out[i] = f(m)
		} else {
			out[i] = it
		}
	}
	return out
}

func slimSpec(kind string, spec map[string]any) map[string]any {
	if spec == nil {
		return nil
	}
	switch kind {
	case policies.KindService:
		out := keep(spec, "selector")
		if ports, ok := spec["ports"]; ok {
			out["ports"] = keepEach(ports, func(p map[string]any) map[string]any { return keep(p, "name", "port", "protocol") })
		}
		return out
	case policies.KindServiceEntry:
		out := keep(spec, "hosts", "exportTo")
		if ports, ok := spec["ports"]; ok {
			out["ports"] = keepEach(ports, func(p map[string]any) map[string]any { return keep(p, "name", "number", "protocol") })
		}
		return out
	case policies.KindDestinationRule:
		out := keep(spec, "host", "exportTo")
		if subsets, ok := spec["subsets"]; ok {
			out["subsets"] = keepEach(subsets, func(s map[string]any) map[string]any { return keep(s, "name", "labels") })
		}
		return out
	case policies.KindGateway:
		out := keep(spec, "selector")
		if servers, ok := spec["servers"]; ok {
			out["servers"] = keepEach(servers, func(s map[string]any) map[string]any { return keep(s, "name", "port", "hosts") })
		}
		return out
	case policies.KindVirtualService:
		out := keep(spec, "hosts", "gateways", "exportTo")
		for _, k := range []string{"http", "tcp", "tls"} {
			if routes, ok := spec[k]; ok {
				out[k] = keepEach(routes, slimRoute)
			}
		}
		return out
	}
	return spec
}

func slimRoute(r map[string]any) map[string]any {
	out := keep(r, "route", "mirror", "mirrors")
	if matches, ok := r["match"]; ok {
		out["match"] = keepEach(matches, func(m map[string]any) map[string]any { return keep(m, "gateways") })
	}
	return out
}

func (ci *ClusterInventory) upsert(obj any) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		ci.Add(policies.NewObject(u.Object, policies.Source{}))
	}
}

func (ci *ClusterInventory) remove(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
		ci.Remove(u.GetKind(), gv.Group, u.GetNamespace(), u.GetName())
	}
}

// Start runs the informers until ctx ends and waits for their first sync.
func (ci *ClusterInventory) Start(ctx context.Context) error {
	ci.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), ci.synced...) {
		return fmt.Errorf("inventory caches did not sync: %w", ctx.Err())
	}
	// The initial lists decode every object whole before the transform
	// slims it; hand that transient peak back to the OS now rather than
	// whenever the scavenger gets to it.
	debug.FreeOSMemory()
	<-ctx.Done()
	ci.factory.Shutdown()
	return nil
}

// HasSynced reports whether every informer has listed once.
func (ci *ClusterInventory) HasSynced() bool {
	for _, s := range ci.synced {
		if !s() {
			return false
		}
	}
	return true
}

// WaitSynced blocks until HasSynced or the timeout.
func (ci *ClusterInventory) WaitSynced(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cache.WaitForCacheSync(ctx.Done(), ci.synced...)
}
