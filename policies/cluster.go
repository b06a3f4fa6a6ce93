package policies

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// inventoryResources are the kinds references resolve against (Pods and
// Deployments tell which subsets select workloads), in the
// API versions tried in order (Istio serves v1 since 1.22, v1beta1 before).
var inventoryResources = []struct {
	group, resource string
	versions        []string
}{
	{"", "services", []string{"v1"}},
	{"", "pods", []string{"v1"}},
	{"apps", "deployments", []string{"v1"}},
	{IstioNetworkingGroup, "serviceentries", []string{"v1", "v1beta1", "v1alpha3"}},
	{IstioNetworkingGroup, "destinationrules", []string{"v1", "v1beta1", "v1alpha3"}},
	{IstioNetworkingGroup, "gateways", []string{"v1", "v1beta1", "v1alpha3"}},
	{IstioNetworkingGroup, "virtualservices", []string{"v1", "v1beta1", "v1alpha3"}},
	// What Gateway API routes refer to, when the Gateway API is served.
	{GatewayAPIGroup, "gateways", []string{"v1", "v1beta1"}},
	{GatewayAPIGroup, "referencegrants", []string{"v1", "v1beta1"}},
}

// ListCluster reads the inventory kinds from a live cluster, in every
// namespace. A cluster without Istio's or the Gateway API's CRDs simply
// contributes no such objects.
func ListCluster(ctx context.Context, client dynamic.Interface) ([]*Object, error) {
	var out []*Object
	for _, r := range inventoryResources {
		for _, v := range r.versions {
			gvr := schema.GroupVersionResource{Group: r.group, Version: v, Resource: r.resource}
			list, err := client.Resource(gvr).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("listing %s in the cluster: %w", gvr.GroupResource(), err)
			}
			for i := range list.Items {
				item := list.Items[i].Object
				out = append(out, NewObject(item, Source{File: "cluster"}))
			}
			break
		}
	}
	return out, nil
}
