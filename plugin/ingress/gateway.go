package ingress

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Gateway returns the Gateway that Istio's tasks bind to the ingress
// gateway (Bookinfo's bookinfo-gateway, the canary's canary-gateway): the
// gateway's pods (istio: ingressgateway) take plain HTTP on port 80 for
// every host, and the VirtualServices naming it route what arrives.
func Gateway(namespace, name string, labels map[string]string) *unstructured.Unstructured {
	l := make(map[string]any, len(labels))
	for k, v := range labels {
		l[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "Gateway",
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": l},
		"spec": map[string]any{
			"selector": map[string]any{"istio": "ingressgateway"},
			"servers": []any{map[string]any{
				"port":  map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
				"hosts": []any{"*"},
			}},
		},
	}}
}
