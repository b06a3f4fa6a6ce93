package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-mesh/kubectl-mesh/test/istiocharts"
)

// gatewayAPIVersion is the Gateway API release the plugin installs and
// the policies check; its module holds the CRDs.
const gatewayAPIVersion = "v1.6.0"

var (
	httpRoutesGVR   = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	kubeGatewaysGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
)

// gatewayAPIFiles are the standard channel's manifests in the
// sigs.k8s.io/gateway-api module (fetched by `go mod download` when
// needed): what a release's standard-install.yaml is made of.
func gatewayAPIFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/gateway-api@"+gatewayAPIVersion).Output()
	if err != nil {
		t.Fatalf("go mod download sigs.k8s.io/gateway-api: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download sigs.k8s.io/gateway-api: no module directory in %s", out)
	}
	files, err := filepath.Glob(filepath.Join(mod.Dir, "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Gateway API manifests in %s: %v", mod.Dir, err)
	}
	sort.Strings(files)
	return files
}

// gatewayAPICRDNames are the CRDs among the files, by their file names.
func gatewayAPICRDNames(files []string) []string {
	var out []string
	for _, f := range files {
		kind := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "gateway.networking.k8s.io_"), ".yaml")
		if !strings.HasPrefix(kind, "vap_") {
			out = append(out, kind+".gateway.networking.k8s.io")
		}
	}
	return out
}

// serveGatewayAPIManifest serves the files joined into one manifest on
// loopback, as the release asset, and counts the requests.
func serveGatewayAPIManifest(t *testing.T, files []string) (string, *atomic.Int32) {
	t.Helper()
	var manifest bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		manifest.WriteString("---\n")
		manifest.Write(b)
	}
	var requests atomic.Int32
	path := "/" + gatewayAPIVersion + "/standard-install.yaml"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(manifest.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL + path, &requests
}

// ensureGatewayAPICRDs applies the Gateway API's standard CRDs with kubectl
// and waits until they are served.
func ensureGatewayAPICRDs(t *testing.T, c *simCluster) {
	t.Helper()
	args := []string{"apply", "--server-side", "--force-conflicts"}
	for _, f := range gatewayAPIFiles(t) {
		args = append(args, "-f", f)
	}
	if out, errOut, err := c.run(t, "", c.kubectl, args...); err != nil {
		t.Fatalf("applying the Gateway API's CRDs: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := c.run(t, "", c.kubectl, "wait", "--for", "condition=established", "--timeout", "60s",
		"crd/gateways.gateway.networking.k8s.io", "crd/httproutes.gateway.networking.k8s.io"); err != nil {
		t.Fatalf("waiting for the Gateway API's CRDs: %v\n%s%s", err, out, errOut)
	}
}

// TestGatewayAPIInstall: install --gateway-api on a cluster without the
// Gateway API installs its CRDs from the manifest (served on loopback as
// the release asset) before Istio, and skips them on the next run.
func TestGatewayAPIInstall(t *testing.T) {
	c := needSim(t)
	files := gatewayAPIFiles(t)
	url, requests := serveGatewayAPIManifest(t, files)
	crds := gatewayAPICRDNames(files)
	if out, errOut, err := c.run(t, "", c.kubectl, append([]string{"delete", "crd", "--ignore-not-found"}, crds...)...); err != nil {
		t.Fatalf("removing the Gateway API's CRDs: %v\n%s%s", err, out, errOut)
	}
	istio(t, c, 0, "uninstall")
	t.Cleanup(func() { c.mesh(t, "uninstall") }) //nolint:errcheck // best effort

	install := []string{"install", "--profile", "minimal", "--charts", istiocharts.Dir(t, c.root), "-f", filepath.Join(c.root, "hack", "sim", "istio-values.yaml"),
		"--timeout", "90s", "--gateway-api", "--gateway-api-manifest", url}
	out := istio(t, c, 0, install...)
	if got, want := marks(out), "✔ Gateway API CRDs installed\n✔ Istio core installed\n✔ Istiod installed\n✔ Installation complete\n"; got != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s\nfull output:\n%s", got, want, out)
	}
	if out, errOut, err := c.run(t, "", c.kubectl, append([]string{"wait", "--for", "condition=established", "--timeout", "10s"}, prefixed("crd/", crds)...)...); err != nil {
		t.Errorf("the Gateway API's CRDs after install: %v\n%s%s", err, out, errOut)
	}

	out = istio(t, c, 0, install...)
	if !strings.HasPrefix(marks(out), "✔ Gateway API CRDs already installed (gateways.gateway.networking.k8s.io exists)\n") || requests.Load() != 1 {
		t.Errorf("second run (%d requests for the manifest):\n%s", requests.Load(), out)
	}

	// A manifest that is not there fails before Istio is touched.
	istio(t, c, 0, "uninstall")
	if _, _, err := c.run(t, "", c.kubectl, "delete", "crd", "gateways.gateway.networking.k8s.io"); err != nil {
		t.Fatal(err)
	}
	bad := append(install[:len(install)-1:len(install)-1], url+".missing")
	out = istio(t, c, 1, bad...)
	if !strings.Contains(out, "✘ Gateway API CRDs encountered an error") || strings.Contains(out, "Istio core") {
		t.Errorf("a missing manifest:\n%s", out)
	}
}

// marks are the lines of progress output that carry a mark.
func marks(out string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "✔") || strings.HasPrefix(line, "✘") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// backendWeights reads the backendRefs of an HTTPRoute's first rule.
func backendWeights(t *testing.T, route *unstructured.Unstructured) string {
	t.Helper()
	rule := field(t, route, "spec", "rules").([]any)[0].(map[string]any)
	var parts []string
	for _, r := range rule["backendRefs"].([]any) {
		m := r.(map[string]any)
		parts = append(parts, fmt.Sprintf("%s=%v", m["name"], m["weight"]))
	}
	return strings.Join(parts, ",")
}

// TestGatewayAPIWorkflow runs Bookinfo on the Gateway API through
// `kubectl mesh`: expose, the URL from the Gateway's Service and then from
// its status, Istio's traffic-shifting task for reviews (set 90/10, step,
// promote, rollback, prune, status), and a timeout on the HTTPRoute.
func TestGatewayAPIWorkflow(t *testing.T) {
	c := needSim(t)
	ensureGatewayAPICRDs(t, c)
	ctx := context.Background()
	ns := newNamespace(t, c, "bookinfo-gwapi-")
	meshRun(t, c, 0, "bookinfo", "deploy", "-n", ns, "--timeout", "2m")

	out, _ := meshRun(t, c, 0, "bookinfo", "expose", "-n", ns, "--api", "gateway")
	if want := "gateway.gateway.networking.k8s.io/bookinfo-gateway serverside-applied\nhttproute.gateway.networking.k8s.io/bookinfo serverside-applied\n"; out != want {
		t.Errorf("expose:\n%s\nwant:\n%s", out, want)
	}
	gw := getObject(t, c, kubeGatewaysGVR, ns, "bookinfo-gateway")
	if class := field(t, gw, "spec", "gatewayClassName"); class != "istio" {
		t.Errorf("gatewayClassName %v", class)
	}

	t.Run("url", func(t *testing.T) {
		// What Istio's deployment controller makes for the Gateway.
		svc, err := c.clients.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "bookinfo-gateway-istio"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway"},
				Ports: []corev1.ServicePort{{Name: "status-port", Port: 15021}, {Name: "http", Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := nodeIP(t, c)
		out, _ := meshRun(t, c, 0, "bookinfo", "url", "-n", ns, "--api", "gateway")
		if want := "http://" + net.JoinHostPort(ip, strconv.Itoa(int(svc.Spec.Ports[1].NodePort))) + "/productpage\n"; out != want {
			t.Errorf("bookinfo url from the Service: %q, want %q", out, want)
		}
		gw := getObject(t, c, kubeGatewaysGVR, ns, "bookinfo-gateway")
		gw.Object["status"] = map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": "192.0.2.10"}}}
		if _, err := c.dynamic.Resource(kubeGatewaysGVR).Namespace(ns).UpdateStatus(ctx, gw, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		out, _ = meshRun(t, c, 0, "ingress", "url", "-n", ns, "--api", "gateway", "-o", "env")
		if want := "export GATEWAY_URL=192.0.2.10:80\n"; out != want {
			t.Errorf("ingress url from the status: %q, want %q", out, want)
		}
	})

	t.Run("canary", func(t *testing.T) {
		canary := func(want int, args ...string) string {
			t.Helper()
			out, _ := meshRun(t, c, want, append(append([]string{"canary"}, args...), "-n", ns, "--api", "gateway")...)
			return out
		}
		out := canary(0, "set", "reviews", "v1=90,v2=10")
		for _, want := range []string{"service/reviews-v1: created for version v1 (app=reviews,version=v1)\n", "httproute/reviews: route v1=90,v2=10\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("set: %q lacks %q", out, want)
			}
		}
		v2, err := c.clients.CoreV1().Services(ns).Get(ctx, "reviews-v2", metav1.GetOptions{})
		if err != nil || v2.Spec.Selector["version"] != "v2" || v2.Spec.Selector["app"] != "reviews" || v2.Spec.Ports[0].Port != 9080 {
			t.Errorf("Service reviews-v2: %v %+v", err, v2)
		}
		route := getObject(t, c, httpRoutesGVR, ns, "reviews")
		parent := field(t, route, "spec", "parentRefs").([]any)[0].(map[string]any)
		if parent["kind"] != "Service" || parent["group"] != "" || parent["name"] != "reviews" {
			t.Errorf("parentRef %v", parent)
		}
		if got := backendWeights(t, route); got != "reviews-v1=90,reviews-v2=10" {
			t.Errorf("after set: %s", got)
		}
		steps := []struct {
			args []string
			want string
		}{
			{[]string{"step", "reviews", "--to", "v2", "--by", "10"}, "reviews-v1=80,reviews-v2=20"},
			{[]string{"promote", "reviews", "--to", "v2"}, "reviews-v1=0,reviews-v2=100"},
			{[]string{"rollback", "reviews"}, "reviews-v1=80,reviews-v2=20"},
			{[]string{"promote", "reviews", "--to", "v2", "--prune"}, "reviews-v2=100"},
		}
		for _, s := range steps {
			canary(0, s.args...)
			if got := backendWeights(t, getObject(t, c, httpRoutesGVR, ns, "reviews")); got != s.want {
				t.Errorf("after %s: %s, want %s", strings.Join(s.args, " "), got, s.want)
			}
		}
		status := canary(0, "status", "reviews")
		for _, want := range []string{"HTTPRoute:        reviews, default route", "v2      100     version=v2  reviews-v2 1/1 ready"} {
			if !strings.Contains(status, want) {
				t.Errorf("status lacks %q:\n%s", want, status)
			}
		}
		// A refused change leaves the route as it was.
		canary(1, "step", "reviews", "--to", "v9")
		if got := backendWeights(t, getObject(t, c, httpRoutesGVR, ns, "reviews")); got != "reviews-v2=100" {
			t.Errorf("after a refused step: %s", got)
		}
	})

	t.Run("resilience", func(t *testing.T) {
		meshRun(t, c, 0, "resilience", "timeout", "reviews", "2s", "-n", ns, "--api", "gateway")
		rule := field(t, getObject(t, c, httpRoutesGVR, ns, "reviews"), "spec", "rules").([]any)[0].(map[string]any)
		if timeouts, _ := rule["timeouts"].(map[string]any); timeouts["request"] != "2s" || rule["backendRefs"] == nil {
			t.Errorf("rule after timeout: %v", rule)
		}
		_, errOut := meshRun(t, c, 1, "resilience", "retry", "reviews", "--attempts", "2", "-n", ns, "--api", "gateway")
		if !strings.Contains(errOut, "the installed Gateway API (v1.6.0 standard) lacks HTTPRoute retry") {
			t.Errorf("retry on the standard channel: %s", errOut)
		}
		meshRun(t, c, 0, "resilience", "clear", "reviews", "-n", ns, "--api", "gateway")
		rule = field(t, getObject(t, c, httpRoutesGVR, ns, "reviews"), "spec", "rules").([]any)[0].(map[string]any)
		if _, has := rule["timeouts"]; has {
			t.Errorf("rule after clear: %v", rule)
		}
	})

	out, _ = meshRun(t, c, 0, "bookinfo", "cleanup", "-n", ns)
	for _, want := range []string{"httproute.gateway.networking.k8s.io/bookinfo deleted", "httproute.gateway.networking.k8s.io/reviews deleted", "gateway.gateway.networking.k8s.io/bookinfo-gateway deleted", "service/reviews-v2 deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("cleanup lacks %q:\n%s", want, out)
		}
	}
}
