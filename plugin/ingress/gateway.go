package ingress

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Gateway returns the Gateway that Istio's tasks bind to the ingress
// gateway (Bookinfo's bookinfo-gateway, the canary's canary-gateway): the
// gateway's pods (istio: ingressgateway) take plain HTTP on port 80 for
// every host, and the VirtualServices naming it route what arrives.
func Gateway(namespace, name string, labels map[string]string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata":   metadata(namespace, name, labels),
		"spec": map[string]any{
			"selector": map[string]any{"istio": "ingressgateway"},
			"servers": []any{map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": []any{"*"},
			}},
		},
	}}
}

// GatewayAPIVersion is the version kubectl-mesh writes Gateway API
// objects in (the standard channel's v1).
const GatewayAPIVersion = policies.GatewayAPIGroup + "/v1"

// GatewayClassName is the class Istio implements: a Gateway of this class
// gets a proxy Deployment and Service named <gateway>-istio.
const GatewayClassName = "istio"

// KubeGateway returns the Gateway API's form of Gateway: class istio, one
// plain HTTP listener on port 80 for every host, taking the routes of the
// Gateway's own namespace.
func KubeGateway(namespace, name string, labels map[string]string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": GatewayAPIVersion,
		"kind":       "Gateway",
		"metadata":   metadata(namespace, name, labels),
		"spec": map[string]any{
			"gatewayClassName": GatewayClassName,
			"listeners": []any{map[string]any{
				"name": "http", "port": int64(80), "protocol": "HTTP",
				"allowedRoutes": map[string]any{"namespaces": map[string]any{"from": "Same"}},
			}},
		},
	}}
}

func metadata(namespace, name string, labels map[string]string) map[string]any {
	l := make(map[string]any, len(labels))
	for k, v := range labels {
		l[k] = v
	}
	return map[string]any{"name": name, "namespace": namespace, "labels": l}
}
