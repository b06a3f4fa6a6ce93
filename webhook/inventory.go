package webhook

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// ClusterInventory keeps a policies.Index in step with the cluster through
// list-and-watch reflectors on Services, ServiceEntries, DestinationRules,
// Gateways and VirtualServices. The reflectors feed the Index directly
// instead of an informer cache: the Index is the only copy of the
// inventory the process keeps. Pods are not watched: watching every pod of
// a cluster costs more memory than the subset warning is worth.
type ClusterInventory struct {
	*policies.Index
	reflectors []*cache.Reflector
	stores     []*indexStore
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

// gatewayAPIResources are the Gateway API objects routes refer to, and
// the routes (for the referenced side: what a delete of a Service,
// Gateway or ReferenceGrant breaks), each watched in the first of these
// versions the cluster serves.
var gatewayAPIResources = []struct {
	resource string
	versions []string
}{
	{"gateways", []string{"v1", "v1beta1"}},
	{"referencegrants", []string{"v1", "v1beta1"}},
	{"httproutes", []string{"v1", "v1beta1"}},
	{"grpcroutes", []string{"v1", "v1alpha2"}},
}

// GatewayAPIResources lists the Gateway API resources the cluster serves
// that the inventory watches: none when the CRDs are not installed, so
// mesh-webhook runs in clusters without the Gateway API (its routes are
// then never sent to it).
func GatewayAPIResources(disc discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	served := map[string]map[string]bool{}
	var out []schema.GroupVersionResource
	for _, r := range gatewayAPIResources {
		for _, v := range r.versions {
			if served[v] == nil {
				served[v] = map[string]bool{}
				list, err := disc.ServerResourcesForGroupVersion(policies.GatewayAPIGroup + "/" + v)
				if err != nil && !apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("asking the API server for %s/%s: %w", policies.GatewayAPIGroup, v, err)
				}
				if list != nil {
					for _, res := range list.APIResources {
						served[v][res.Name] = true
					}
				}
			}
			if served[v][r.resource] {
				out = append(out, schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: v, Resource: r.resource})
				break
			}
		}
	}
	return out, nil
}

// NewClusterInventory sets up the reflectors; Start runs them. extra are
// further resources to watch (GatewayAPIResources).
func NewClusterInventory(client dynamic.Interface, istioVersion, clusterDomain string, extra ...schema.GroupVersionResource) *ClusterInventory {
	ci := &ClusterInventory{Index: policies.NewIndex(clusterDomain)}
	ci.Resources = append(ci.Resources, schema.GroupVersionResource{Version: "v1", Resource: "services"})
	for _, r := range istioResources {
		ci.Resources = append(ci.Resources, schema.GroupVersionResource{Group: policies.IstioNetworkingGroup, Version: istioVersion, Resource: r})
	}
	ci.Resources = append(ci.Resources, extra...)
	for _, gvr := range ci.Resources {
		res := client.Resource(gvr)
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				list, err := res.List(ctx, o)
				if err != nil {
					return nil, err
				}
				// Slim the page at once, so a large list is not held whole.
				for i := range list.Items {
					_, _ = slimObject(&list.Items[i])
				}
				return list, nil
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return res.Watch(ctx, o)
			},
		}
		store := &indexStore{index: ci.Index, group: gvr.Group, keys: map[string]string{}}
		ci.stores = append(ci.stores, store)
		ci.reflectors = append(ci.reflectors, cache.NewReflectorWithOptions(pagedListWatch{lw}, &unstructured.Unstructured{}, store, cache.ReflectorOptions{Name: gvr.String()}))
	}
	return ci
}

// pagedListWatch makes the reflector list in pages, each slimmed as it
// arrives, rather than stream the initial objects through a watch, which
// holds every object whole until the last one is in.
type pagedListWatch struct{ *cache.ListWatch }

// IsWatchListSemanticsUnSupported tells client-go's reflector to list.
func (pagedListWatch) IsWatchListSemanticsUnSupported() bool { return true }

// indexStore is the reflector's store: it applies every change to the
// Index and remembers only which objects it holds.
type indexStore struct {
	index  *policies.Index
	group  string
	mu     sync.Mutex
	keys   map[string]string // namespace/name -> kind
	synced atomic.Bool
}

func (s *indexStore) Add(obj any) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("unexpected object %T", obj)
	}
	_, _ = slimObject(u)
	s.index.Add(policies.NewObject(u.Object, policies.Source{}))
	s.mu.Lock()
	s.keys[u.GetNamespace()+"/"+u.GetName()] = u.GetKind()
	s.mu.Unlock()
	return nil
}

func (s *indexStore) Update(obj any) error { return s.Add(obj) }

func (s *indexStore) Delete(obj any) error {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("unexpected object %T", obj)
	}
	s.index.Remove(u.GetKind(), s.group, u.GetNamespace(), u.GetName())
	s.mu.Lock()
	delete(s.keys, u.GetNamespace()+"/"+u.GetName())
	s.mu.Unlock()
	return nil
}

// Replace swaps in a full list: what is gone from it leaves the Index.
func (s *indexStore) Replace(items []any, _ string) error {
	fresh := map[string]bool{}
	for _, it := range items {
		if u, ok := it.(*unstructured.Unstructured); ok {
			fresh[u.GetNamespace()+"/"+u.GetName()] = true
		}
	}
	s.mu.Lock()
	for k, kind := range s.keys {
		if !fresh[k] {
			ns, name, _ := strings.Cut(k, "/")
			s.index.Remove(kind, s.group, ns, name)
			delete(s.keys, k)
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if err := s.Add(it); err != nil {
			return err
		}
	}
	s.synced.Store(true)
	return nil
}

func (s *indexStore) Resync() error { return nil }

// slimObject keeps only what the inventory reads (policies.InventoryView),
// so the informer caches hold a fraction of each object: with 10,000
// Services, DestinationRules and VirtualServices the process stayed above
// 200 MB with whole objects.
func slimObject(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		u.Object = policies.InventoryView(u.Object)
	}
	return obj, nil
}

// Start runs the reflectors until ctx ends. They start one after another,
// each once the previous one has listed: listing every kind at once held
// all the initial lists in memory together (a 330 MiB peak with 10,000
// Services, DestinationRules and VirtualServices).
func (ci *ClusterInventory) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, r := range ci.reflectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.RunWithContext(ctx)
		}()
		if !cache.WaitForCacheSync(ctx.Done(), func() bool { return ci.stores[i].synced.Load() }) {
			break
		}
		// Hand each initial list's transient memory back to the OS now
		// rather than whenever the scavenger gets to it.
		debug.FreeOSMemory()
	}
	wg.Wait()
	return nil
}

// HasSynced reports whether every reflector has listed once.
func (ci *ClusterInventory) HasSynced() bool {
	for _, s := range ci.stores {
		if !s.synced.Load() {
			return false
		}
	}
	return true
}

// WaitSynced blocks until HasSynced or the timeout.
func (ci *ClusterInventory) WaitSynced(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cache.WaitForCacheSync(ctx.Done(), ci.HasSynced)
}
