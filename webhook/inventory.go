package webhook

import (
	"context"
	"fmt"
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

func slimObject(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	u.SetManagedFields(nil)
	delete(u.Object, "status")
	if a := u.GetAnnotations(); a != nil {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		u.SetAnnotations(a)
	}
	return u, nil
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
