package ingress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// podTunnel plays the API server's pods/portforward endpoint the way a
// kubelet answers it: SPDY streams per port, each data stream joined to a
// connection to target (here, the "pod" is a local server).
func podTunnel(t *testing.T, target string, requests chan<- string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests <- req.Method + " " + req.URL.Path
		if _, err := httpstream.Handshake(req, w, []string{"portforward.k8s.io"}); err != nil {
			return
		}
		streams := make(chan httpstream.Stream, 8)
		conn := spdy.NewResponseUpgrader().UpgradeResponse(w, req, func(s httpstream.Stream, _ <-chan struct{}) error {
			streams <- s
			return nil
		})
		if conn == nil {
			return
		}
		defer conn.Close()
		for {
			select {
			case s := <-streams:
				if s.Headers().Get("streamType") != "data" {
					continue // the error stream stays silent: no error
				}
				go func() {
					defer s.Close()
					c, err := net.Dial("tcp", target)
					if err != nil {
						return
					}
					defer c.Close()
					go io.Copy(c, s) //nolint:errcheck // ends with the stream
					io.Copy(s, c)    //nolint:errcheck // ends with the connection
				}()
			case <-conn.CloseChan():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestForwardReachesTheGatewayPod(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html><head><title>Simple Bookstore App</title></head></html>")
	}))
	defer page.Close()
	requests := make(chan string, 8)
	api := podTunnel(t, page.Listener.Addr().String(), requests)

	svc := gatewayService("istio-ingressgateway", func(s *corev1.Service) {
		s.Spec.Ports[1].TargetPort = intstr.FromString("http2")
	})
	ready := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gw-ready", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Ports: []corev1.ContainerPort{{Name: "http2", ContainerPort: 8080}}}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	starting := ready.DeepCopy()
	starting.Name, starting.Status.Conditions = "gw-starting", nil
	client := fake.NewClientset(svc, starting, ready)
	config := &rest.Config{Host: api.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr, done, err := Forward(ctx, config, client, DefaultOptions(), 0, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if addr.Host != "127.0.0.1" || addr.Port == 0 || !strings.Contains(addr.Source, "gw-ready") {
		t.Fatalf("address %+v", addr)
	}
	if err := CheckPage(ctx, &http.Client{Timeout: 10 * time.Second}, "http://"+addr.HostPort()+"/productpage", "Simple Bookstore App"); err != nil {
		t.Fatalf("through the tunnel: %v", err)
	}
	if got := <-requests; got != "POST /api/v1/namespaces/istio-system/pods/gw-ready/portforward" {
		t.Errorf("tunnel request %q", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel did not close when the context ended")
	}
}

func TestForwardWithoutAReadyPod(t *testing.T) {
	svc := gatewayService("istio-ingressgateway", nil)
	_, _, err := Forward(context.Background(), &rest.Config{Host: "https://127.0.0.1:1"}, fake.NewClientset(svc), DefaultOptions(), 0, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no ready pod behind service istio-system/istio-ingressgateway") {
		t.Fatalf("want no ready pod, got %v", err)
	}
}
