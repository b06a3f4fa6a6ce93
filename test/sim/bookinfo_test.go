package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	gvrVirtualService = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	gvrGateway        = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
)

// TestBookinfoWorkflow follows steps 3 to 7 of the hand-made workflow:
// deploy with injection, status, expose, find the URL, check it, clean up.
func TestBookinfoWorkflow(t *testing.T) {
	c := needSim(t)
	c.ensureIstioCRDs(t)
	ns := "bookinfo-workflow"
	t.Cleanup(func() { c.run(t, "", c.kubectl, "delete", "namespace", ns, "--wait=false") }) //nolint:errcheck // best effort
	ctx := context.Background()

	out, stderr, err := c.mesh(t, "bookinfo", "deploy", "-n", ns, "--timeout", "2m")
	if err != nil {
		t.Fatalf("bookinfo deploy: %v\n%s\n%s", err, out, stderr)
	}
	for _, want := range []string{"deployment.apps/reviews-v3 serverside-applied", "✔ Bookinfo details ready", "✔ Bookinfo reviews ready", "✔ Bookinfo productpage ready", "✔ Bookinfo deployed in namespace " + ns} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	nsObj, err := c.clients.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || nsObj.Labels["istio-injection"] != "enabled" {
		t.Errorf("namespace %s: labels %v, %v; want istio-injection=enabled", ns, nsObj.Labels, err)
	}
	deps, err := c.clients.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	available := 0
	for _, d := range deps.Items {
		if d.Status.AvailableReplicas == 1 {
			available++
		}
	}
	if available != 6 {
		t.Errorf("%d of %d Deployments available, want 6", available, len(deps.Items))
	}

	out, _, err = c.mesh(t, "bookinfo", "status", "-n", ns, "-o", "json")
	if err != nil {
		t.Fatalf("bookinfo status: %v", err)
	}
	var status struct {
		Workloads []struct {
			Name             string
			Ready, Available int32
		}
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil || len(status.Workloads) != 6 {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	out, _, _ = c.mesh(t, "bookinfo", "status", "-n", ns)
	if !strings.Contains(out, "reviews-v2") || !strings.Contains(out, "1/1") {
		t.Errorf("status table:\n%s", out)
	}

	out, stderr, err = c.mesh(t, "bookinfo", "expose", "-n", ns)
	if err != nil {
		t.Fatalf("bookinfo expose: %v\n%s\n%s", err, out, stderr)
	}
	if _, err := c.dynamic.Resource(gvrGateway).Namespace(ns).Get(ctx, "bookinfo-gateway", metav1.GetOptions{}); err != nil {
		t.Errorf("gateway: %v", err)
	}
	vs, err := c.dynamic.Resource(gvrVirtualService).Namespace(ns).Get(ctx, "bookinfo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("virtualservice: %v", err)
	}
	if m := vs.GetManagedFields(); len(m) == 0 || m[0].Manager != "kubectl-mesh" {
		t.Errorf("virtualservice managed fields: %+v", m)
	}

	// A hand-made object in the namespace must survive cleanup.
	if _, err := c.clients.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = c.mesh(t, "bookinfo", "cleanup", "-n", ns)
	if err != nil {
		t.Fatalf("bookinfo cleanup: %v\n%s", err, stderr)
	}
	if n := strings.Count(out, " deleted"); n != 16 {
		t.Errorf("cleanup deleted %d objects, want 16 (2 Istio, 6 Deployments, 4 Services, 4 ServiceAccounts):\n%s", n, out)
	}
	for _, kind := range []string{"deployments", "services", "serviceaccounts", "gateways.networking.istio.io", "virtualservices.networking.istio.io"} {
		left, _, err := c.run(t, "", c.kubectl, "get", kind, "-n", ns, "-l", "app.kubernetes.io/managed-by=kubectl-mesh", "-o", "name")
		if err != nil || strings.TrimSpace(left) != "" {
			t.Errorf("after cleanup, %s left: %q %v", kind, left, err)
		}
	}
	if _, err := c.clients.CoreV1().ConfigMaps(ns).Get(ctx, "mine", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup removed a hand-made ConfigMap: %v", err)
	}
}

func TestBookinfoDeploySelector(t *testing.T) {
	c := needSim(t)
	ns := c.namespace(t, "bookinfo-selector")
	// Like the sample, -l app=reviews,version=v3 brings only the Deployment:
	// without the reviews ServiceAccount its pods cannot be created, and
	// deploy says so within its timeout.
	start := time.Now()
	out, stderr, err := c.mesh(t, "bookinfo", "deploy", "-n", ns, "-l", "app=reviews,version=v3", "--no-inject", "--timeout", "8s")
	if exitCode(err) != 1 || !strings.Contains(out, "✘ Bookinfo reviews is not ready") || !strings.Contains(out, `serviceaccount "bookinfo-reviews" not found`) {
		t.Errorf("deploy -l without the ServiceAccount: exit %d\n%s\n%s", exitCode(err), out, stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a failing deploy with --timeout 8s took %v", took)
	}
	if out, stderr, err = c.mesh(t, "bookinfo", "deploy", "-n", ns, "-l", "account=reviews", "--no-inject", "--timeout", "1m"); err != nil {
		t.Fatalf("deploy -l account=reviews: %v\n%s\n%s", err, out, stderr)
	}
	if out, stderr, err = c.mesh(t, "bookinfo", "deploy", "-n", ns, "-l", "app=reviews,version=v3", "--no-inject", "--timeout", "1m"); err != nil {
		t.Fatalf("deploy -l app=reviews,version=v3 once the ServiceAccount exists: %v\n%s\n%s", err, out, stderr)
	}
	deps, err := c.clients.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(deps.Items) != 1 || deps.Items[0].Name != "reviews-v3" {
		t.Fatalf("want only reviews-v3, got %+v %v", deps.Items, err)
	}
	if _, _, err := c.mesh(t, "bookinfo", "deploy", "-n", ns, "-l", "app=nothing"); exitCode(err) != 2 {
		t.Errorf("a selector matching nothing: exit %d, want 2", exitCode(err))
	}
}

// gatewayService makes a stand-in for the ingress gateway's Service.
func gatewayService(t *testing.T, c *simCluster, ns string, typ corev1.ServiceType, port int32) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: ns, Labels: map[string]string{"istio": "ingressgateway"}},
		Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"istio": "ingressgateway"},
			Ports: []corev1.ServicePort{{Name: "status-port", Port: 15021}, {Name: "http2", Port: port}}},
	}
	svc, err := c.clients.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// nodeIP is the simulated node's internal IP: the host of a nodePort.
func nodeIP(t *testing.T, c *simCluster) string {
	t.Helper()
	node, err := c.clients.CoreV1().Nodes().Get(context.Background(), "sim-node-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatalf("node %s has no internal IP", node.Name)
	return ""
}

func TestBookinfoURLAndCheck(t *testing.T) {
	c := needSim(t)
	ctx := context.Background()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/productpage" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "<html><head><title>Simple Bookstore App</title></head></html>")
	}))
	defer page.Close()
	_, portText, _ := net.SplitHostPort(page.Listener.Addr().String())
	pagePort, _ := strconv.Atoi(portText)

	t.Run("NodePort", func(t *testing.T) {
		ns := c.namespace(t, "gateway-nodeport")
		svc := gatewayService(t, c, ns, corev1.ServiceTypeNodePort, 80)
		ip := nodeIP(t, c)
		out, stderr, err := c.mesh(t, "bookinfo", "url", "--gateway-namespace", ns, "-o", "env")
		if err != nil {
			t.Fatalf("bookinfo url: %v\n%s", err, stderr)
		}
		want := fmt.Sprintf("export GATEWAY_URL=%s\n", net.JoinHostPort(ip, strconv.Itoa(int(svc.Spec.Ports[1].NodePort))))
		if out != want {
			t.Errorf("got %q, want %q", out, want)
		}
	})

	t.Run("LoadBalancer", func(t *testing.T) {
		ns := c.namespace(t, "gateway-lb")
		svc := gatewayService(t, c, ns, corev1.ServiceTypeLoadBalancer, int32(pagePort))
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.0.0.1"}}
		if _, err := c.clients.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := c.mesh(t, "bookinfo", "url", "--gateway-namespace", ns)
		if want := page.URL + "/productpage\n"; err != nil || out != want {
			t.Fatalf("bookinfo url: %q %v %s; want %q", out, err, stderr, want)
		}
		out, stderr, err = c.mesh(t, "ingress", "url", "--gateway-namespace", ns, "-o", "json")
		if err != nil || !strings.Contains(out, `"source": "LoadBalancer"`) {
			t.Errorf("ingress url -o json: %v %s %s", err, out, stderr)
		}
	})

	t.Run("check", func(t *testing.T) {
		out, stderr, err := c.mesh(t, "bookinfo", "check", "--url", page.URL+"/productpage")
		if err != nil || !strings.Contains(out, "✔") {
			t.Errorf("check of a good page: %v\n%s%s", err, out, stderr)
		}
		_, stderr, err = c.mesh(t, "bookinfo", "check", "--url", page.URL+"/elsewhere")
		if exitCode(err) != 1 || !strings.Contains(stderr, "404") {
			t.Errorf("check of a missing page: exit %d\n%s", exitCode(err), stderr)
		}
	})
}
