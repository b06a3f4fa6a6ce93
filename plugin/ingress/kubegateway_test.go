package ingress

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// bookinfoGateway is bookinfo expose --api gateway's Gateway with the
// status addresses Istio reported.
func bookinfoGateway(name string, addresses ...map[string]any) *unstructured.Unstructured {
	gw := KubeGateway("bookinfo", name, nil)
	gw.Object["spec"].(map[string]any)["listeners"] = []any{
		map[string]any{"name": "tls", "port": int64(443), "protocol": "HTTPS"},
		map[string]any{"name": "http", "port": int64(80), "protocol": "HTTP"},
	}
	if len(addresses) > 0 {
		list := make([]any, len(addresses))
		for i, a := range addresses {
			list[i] = a
		}
		gw.Object["status"] = map[string]any{"addresses": list}
	}
	return gw
}

// istioService is the Service Istio deploys for a Gateway of class istio.
func istioService(gateway string, mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: gateway + "-istio", Namespace: "bookinfo"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"gateway.networking.k8s.io/gateway-name": gateway},
			Ports: []corev1.ServicePort{
				{Name: "status-port", Port: 15021, NodePort: 31021},
				{Name: "http", Port: 80, NodePort: 30080},
				{Name: "tls", Port: 443, NodePort: 30443},
			},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func TestFindKubeGateway(t *testing.T) {
	ip := func(v string) map[string]any { return map[string]any{"type": "IPAddress", "value": v} }
	host := func(v string) map[string]any { return map[string]any{"type": "Hostname", "value": v} }
	n1 := node("n1", corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"})
	tests := []struct {
		name     string
		gateways []*unstructured.Unstructured
		objects  []runtime.Object
		ref      KubeGatewayRef
		want     string
		wantErr  string
	}{
		{"status address", []*unstructured.Unstructured{bookinfoGateway("bookinfo-gateway", ip("203.0.113.9"))}, nil,
			KubeGatewayRef{Name: "bookinfo-gateway"}, "Gateway status 203.0.113.9:80", ""},
		{"a named listener", []*unstructured.Unstructured{bookinfoGateway("bookinfo-gateway", host("gw.example.com"))}, nil,
			KubeGatewayRef{Name: "bookinfo-gateway", Listener: "tls"}, "Gateway status gw.example.com:443", ""},
		{"a cluster-local status address falls back to the Service's load balancer", []*unstructured.Unstructured{
			bookinfoGateway("bookinfo-gateway", host("bookinfo-gateway-istio.bookinfo.svc.cluster.local")),
		}, []runtime.Object{istioService("bookinfo-gateway", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.51.100.2"}}
		})}, KubeGatewayRef{Name: "bookinfo-gateway"}, "LoadBalancer 198.51.100.2:80", ""},
		{"the namespace's only Gateway, by nodePort", []*unstructured.Unstructured{bookinfoGateway("bookinfo-gateway")},
			[]runtime.Object{istioService("bookinfo-gateway", nil), n1}, KubeGatewayRef{}, "NodePort 10.0.0.1:30080", ""},
		{"several Gateways", []*unstructured.Unstructured{bookinfoGateway("a"), bookinfoGateway("b")}, nil,
			KubeGatewayRef{}, "", "several Gateways in namespace bookinfo (a, b): name one with --gateway"},
		{"no Gateway", nil, nil, KubeGatewayRef{Name: "bookinfo-gateway"}, "", "Gateway bookinfo/bookinfo-gateway (gateways.gateway.networking.k8s.io) not found"},
		{"no listener of that name", []*unstructured.Unstructured{bookinfoGateway("bookinfo-gateway")}, nil,
			KubeGatewayRef{Name: "bookinfo-gateway", Listener: "http2"}, "", "Gateway bookinfo/bookinfo-gateway has no listener http2 (listeners: tls, http)"},
		{"no address and no Service", []*unstructured.Unstructured{bookinfoGateway("bookinfo-gateway")}, nil,
			KubeGatewayRef{Name: "bookinfo-gateway"}, "", "Gateway bookinfo/bookinfo-gateway reports no address and its Service bookinfo/bookinfo-gateway-istio does not exist"},
		{"the Service lacks the listener's port", []*unstructured.Unstructured{bookinfoGateway("bookinfo-gateway")},
			[]runtime.Object{istioService("bookinfo-gateway", func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1] })},
			KubeGatewayRef{Name: "bookinfo-gateway"}, "", "service bookinfo/bookinfo-gateway-istio has no port 80, the port of Gateway bookinfo/bookinfo-gateway's listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{KubeGateways: "GatewayList"})
			for _, gw := range tt.gateways {
				if err := dyn.Tracker().Create(KubeGateways, gw, gw.GetNamespace()); err != nil {
					t.Fatal(err)
				}
			}
			tt.ref.Namespace = "bookinfo"
			addr, err := FindKubeGateway(context.Background(), fake.NewClientset(tt.objects...), dyn, tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error %q", addr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%s %s", addr.Source, addr.HostPort()); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
