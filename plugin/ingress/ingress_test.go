package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func gatewayService(name string, mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"istio": "ingressgateway"},
			Ports: []corev1.ServicePort{
				{Name: "status-port", Port: 15021, NodePort: 31021},
				{Name: "http2", Port: 80, NodePort: 31080},
				{Name: "https", Port: 443, NodePort: 31443},
			},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func node(name string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func TestFind(t *testing.T) {
	internal := func(ip string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
	}
	external := func(ip string) corev1.NodeAddress {
		return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
	}
	gatewayPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}, Spec: corev1.PodSpec{NodeName: "n2"}}
	tests := []struct {
		name    string
		objects []runtime.Object
		opts    func(*Options)
		want    string
		wantErr string
	}{
		{"load balancer IP", []runtime.Object{gatewayService("istio-ingressgateway", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
		})}, nil, "LoadBalancer 203.0.113.7:80", ""},
		{"load balancer hostname", []runtime.Object{gatewayService("istio-ingressgateway", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "gw.example.com"}}
		})}, nil, "LoadBalancer gw.example.com:80", ""},
		{"https port", []runtime.Object{gatewayService("istio-ingressgateway", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
		})}, func(o *Options) { o.PortName = "https" }, "LoadBalancer 203.0.113.7:443", ""},
		{"external IPs", []runtime.Object{gatewayService("istio-ingressgateway", func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"198.51.100.4"}
		})}, nil, "externalIPs 198.51.100.4:80", ""},
		{"pending load balancer falls back to the http2 nodePort", []runtime.Object{
			gatewayService("istio-ingressgateway", nil), node("n1", internal("10.0.0.1")),
		}, nil, "NodePort 10.0.0.1:31080", ""},
		{"a node's external IP wins", []runtime.Object{
			gatewayService("istio-ingressgateway", nil), node("n1", internal("10.0.0.1"), external("192.0.2.1")),
		}, nil, "NodePort 192.0.2.1:31080", ""},
		{"the node running the gateway wins", []runtime.Object{
			gatewayService("istio-ingressgateway", nil), gatewayPod, node("n1", internal("10.0.0.1")), node("n2", internal("10.0.0.2")),
		}, nil, "NodePort 10.0.0.2:31080", ""},
		{"IPv6 node", []runtime.Object{
			gatewayService("istio-ingressgateway", nil), node("n1", internal("fd00::1")),
		}, nil, "NodePort [fd00::1]:31080", ""},
		{"found by label when the name differs", []runtime.Object{gatewayService("ingress", func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"198.51.100.4"}
		})}, nil, "externalIPs 198.51.100.4:80", ""},
		{"ClusterIP only", []runtime.Object{gatewayService("istio-ingressgateway", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			for i := range s.Spec.Ports {
				s.Spec.Ports[i].NodePort = 0
			}
		})}, nil, "", "use --port-forward"},
		{"no node address", []runtime.Object{gatewayService("istio-ingressgateway", nil), node("n1")}, nil, "", "no node reports an IP address"},
		{"no gateway", nil, nil, "", "is Istio installed?"},
		{"no such port", []runtime.Object{gatewayService("istio-ingressgateway", func(s *corev1.Service) {
			s.Spec.Ports = s.Spec.Ports[:1]
		})}, nil, "", "no port named http2 nor port 80 (ports: status-port(15021))"},
		{"two gateways by label", []runtime.Object{gatewayService("a", nil), gatewayService("b", nil)}, nil, "", "several services in istio-system have labels istio=ingressgateway (a, b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			addr, err := Find(context.Background(), fake.NewClientset(tt.objects...), o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error containing %q, got %v (%+v)", tt.wantErr, err, addr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := addr.Source + " " + addr.HostPort(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNoAddressIsRecognisable(t *testing.T) {
	svc := gatewayService("istio-ingressgateway", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP; s.Spec.Ports[1].NodePort = 0 })
	_, err := Find(context.Background(), fake.NewClientset(svc), DefaultOptions())
	if !errors.Is(err, ErrNoAddress) {
		t.Fatalf("want ErrNoAddress, got %v", err)
	}
}

func TestCheckPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/productpage":
			fmt.Fprint(w, "<html><head>\n<TITLE>Simple Bookstore App</TITLE></head></html>")
		case "/other":
			fmt.Fprint(w, "<html><head><title>Welcome to nginx!</title></head></html>")
		case "/bare":
			fmt.Fprint(w, "hello")
		case "/down":
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	tests := []struct {
		path, wantErr string
	}{
		{"/productpage", ""},
		{"/other", `page title is "Welcome to nginx!", want "Simple Bookstore App"`},
		{"/bare", "has no <title>"},
		{"/down", "503 Service Unavailable (no healthy upstream"},
		{"/missing", "404 Not Found (no VirtualService route matches"},
	}
	for _, tt := range tests {
		err := CheckPage(context.Background(), client, srv.URL+tt.path, "Simple Bookstore App")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: got %v, want %q", tt.path, err, tt.wantErr)
		}
	}
	srv.Close()
	if err := CheckPage(context.Background(), client, srv.URL+"/productpage", "x"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("closed server: %v", err)
	}
}

func TestContainerPort(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http2", ContainerPort: 8080}}}}}}
	for _, tt := range []struct {
		target string
		want   int
	}{{"http2", 8080}, {"9090", 9090}} {
		got, err := containerPort(pod, intstrFrom(tt.target), 80)
		if err != nil || got != tt.want {
			t.Errorf("%s: %d, %v", tt.target, got, err)
		}
	}
	if _, err := containerPort(pod, intstrFrom("grpc"), 80); err == nil {
		t.Error("unknown named port should fail")
	}
}

func intstrFrom(s string) intstr.IntOrString { return intstr.Parse(s) }
