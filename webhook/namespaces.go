package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// ClusterNamespaces implements Namespaces with an informer over the
// cluster's namespaces, slimmed to their labels and deletion time (a few
// hundred bytes each), and live reads through a client of its own.
type ClusterNamespaces struct {
	factory informers.SharedInformerFactory
	lister  corelisters.NamespaceLister
	synced  cache.InformerSynced
	live    kubernetes.Interface
}

// NewClusterNamespaces watches namespaces through watch and reads them
// live through live (the live-read client, with its own rate limits).
func NewClusterNamespaces(watch, live kubernetes.Interface) *ClusterNamespaces {
	f := informers.NewSharedInformerFactoryWithOptions(watch, 0, informers.WithTransform(slimNamespace))
	inf := f.Core().V1().Namespaces()
	return &ClusterNamespaces{factory: f, lister: inf.Lister(), synced: inf.Informer().HasSynced, live: live}
}

// slimNamespace keeps what NamespaceInfo reads.
func slimNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns.Name, Labels: ns.Labels, DeletionTimestamp: ns.DeletionTimestamp, ResourceVersion: ns.ResourceVersion, UID: ns.UID,
	}, Status: corev1.NamespaceStatus{Phase: ns.Status.Phase}}, nil
}

func namespaceInfo(ns *corev1.Namespace) NamespaceInfo {
	return NamespaceInfo{Labels: ns.Labels, Terminating: ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating}
}

// Start runs the informer until ctx ends.
func (c *ClusterNamespaces) Start(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	<-ctx.Done()
	c.factory.Shutdown()
	return nil
}

// HasSynced reports whether the namespaces have been listed once.
func (c *ClusterNamespaces) HasSynced() bool { return c.synced() }

// Cached implements Namespaces.
func (c *ClusterNamespaces) Cached(name string) (NamespaceInfo, bool) {
	ns, err := c.lister.Get(name)
	if err != nil {
		return NamespaceInfo{}, false
	}
	return namespaceInfo(ns), true
}

// Live implements Namespaces.
func (c *ClusterNamespaces) Live(ctx context.Context, name string) (NamespaceInfo, error) {
	ns, err := c.live.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return NamespaceInfo{}, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return namespaceInfo(ns), nil
}
