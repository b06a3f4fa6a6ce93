package sim

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/istioinstall"
	"github.com/kubectl-mesh/kubectl-mesh/test/istiocharts"
)

// objectNames lists the names of a resource's objects in ns that carry
// the label selector, sorted.
func objectNames(t *testing.T, c *simCluster, gvr schema.GroupVersionResource, ns, selector string) []string {
	t.Helper()
	list, err := c.dynamic.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("listing %s in %s: %v", gvr.Resource, ns, err)
	}
	var names []string
	for _, o := range list.Items {
		names = append(names, o.GetName())
	}
	slices.Sort(names)
	return names
}

// wantNames fails the test when the names differ.
func wantNames(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

// gone fails the test when the object still exists.
func gone(t *testing.T, c *simCluster, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	_, err := c.dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("%s %s/%s is still there (%v)", gvr.Resource, ns, name, err)
	}
}

// route is the first http route of a VirtualService.
func route(t *testing.T, c *simCluster, ns, name string) map[string]any {
	t.Helper()
	return field(t, getObject(t, c, virtualServices, ns, name), "spec", "http").([]any)[0].(map[string]any)
}

// TestTutorial types the tutorial of docs/workflow.md in its order, with
// its values and with kubectl mesh alone, through the real kubectl, and
// reads back what each step leaves. It works in a namespace of its own
// rather than default, which other tests of the package use.
func TestTutorial(t *testing.T) {
	c := needSim(t)
	ns := newNamespace(t, c, "tutorial-")
	managed := "app.kubernetes.io/managed-by=kubectl-mesh"
	started := time.Now()
	last := started
	step := func(name string) {
		t.Helper()
		t.Logf("%-48s %6s (at %s)", name, time.Since(last).Round(100*time.Millisecond), time.Since(started).Round(100*time.Millisecond))
		last = time.Now()
	}

	// 1. Istio's demo profile as a newcomer installs it: no --charts, a
	// HOME where Helm was never set up, the charts from Istio's chart
	// repository (served on loopback, the default pointed at it), with the
	// simulated cluster's values, as the install test passes them.
	repo := istiocharts.Repository(t, c.root, istioinstall.DefaultVersion)
	env := append(istiocharts.FreshHomeEnv(t, os.Environ()), istioinstall.RepoEnv+"="+repo.URL)
	argv := []string{"install", "--profile", "demo", "-f", filepath.Join(c.root, "hack", "sim", "istio-values.yaml"), "--timeout", "90s"}
	out, errOut, err := c.meshEnv(t, env, argv...)
	if code := exitCode(err); code != 0 {
		t.Fatalf("kubectl mesh %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), code, out, errOut)
	}
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			c.mesh(t, "uninstall") //nolint:errcheck // best effort after a failure
		}
	})
	if !strings.Contains(out, "✔ Ingress gateways installed\n") || !strings.HasSuffix(out, "✔ Installation complete\n") {
		t.Errorf("install:\n%s", out)
	}
	if got := istioDeployments(t, c); !slices.Equal(got, []string{"istio-egressgateway", "istio-ingressgateway", "istiod"}) {
		t.Errorf("Deployments in istio-system: %v", got)
	}
	step("1. install --profile demo")

	// 3. Sidecar injection.
	istio(t, c, 0, "inject", "enable", ns)
	if n, err := c.clients.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil || n.Labels["istio-injection"] != "enabled" {
		t.Errorf("namespace %s after inject enable: %v %v", ns, n.Labels, err)
	}
	step("3. inject enable")

	// 4 to 6. Bookinfo: deploy, expose, find the URL.
	out = istio(t, c, 0, "bookinfo", "deploy", "-n", ns, "--timeout", "2m")
	if !strings.Contains(out, "✔ Bookinfo deployed in namespace "+ns) {
		t.Errorf("bookinfo deploy:\n%s", out)
	}
	bookinfo := "app.kubernetes.io/part-of=bookinfo"
	wantNames(t, "Bookinfo's Deployments", objectNames(t, c, deploymentsGVR, ns, bookinfo),
		"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1")
	istio(t, c, 0, "bookinfo", "expose", "-n", ns)
	wantNames(t, "Bookinfo's Gateway", objectNames(t, c, gvrGateway, ns, bookinfo), "bookinfo-gateway")
	wantNames(t, "Bookinfo's VirtualService", objectNames(t, c, virtualServices, ns, bookinfo), "bookinfo")
	out = istio(t, c, 0, "bookinfo", "url")
	if !regexp.MustCompile(`^http://[0-9.]+:[0-9]+/productpage\n$`).MatchString(out) {
		t.Errorf("bookinfo url: %q", out)
	}
	step("4-6. bookinfo deploy, expose, url")

	// 8. The canary, on the tutorial's own app: subsets select app (the
	// label that tells appv1 and appv2 apart), found without being named.
	out = istio(t, c, 0, "sample", "deploy", "canary", "-n", ns, "--timeout", "2m")
	if !strings.Contains(out, "✔ Sample canary ready") {
		t.Errorf("sample deploy canary:\n%s", out)
	}
	wantNames(t, "the canary's Deployments", objectNames(t, c, deploymentsGVR, ns, "kubectl-mesh.io/sample=canary"), "appv1", "appv2")
	wantNames(t, "the canary's Gateway", objectNames(t, c, gvrGateway, ns, "kubectl-mesh.io/sample=canary"), "canary-gateway")
	_, errOut = meshRun(t, c, 0, "canary", "set", "canary", "v1=90,v2=10", "--gateway", "canary-gateway", "--hosts", "*", "-n", ns)
	if !strings.Contains(errOut, "new subsets select pods by label app,") {
		t.Errorf("canary set: the inferred label is not named:\n%s", errOut)
	}
	dr := getObject(t, c, destinationRules, ns, "canary")
	wantSubsets := []any{
		map[string]any{"name": "v1", "labels": map[string]any{"app": "v1"}},
		map[string]any{"name": "v2", "labels": map[string]any{"app": "v2"}},
	}
	if got := field(t, dr, "spec", "subsets"); !reflect.DeepEqual(got, wantSubsets) {
		t.Errorf("subsets %v", got)
	}
	vs := getObject(t, c, virtualServices, ns, "canary")
	if hosts, gws := field(t, vs, "spec", "hosts"), field(t, vs, "spec", "gateways"); !reflect.DeepEqual(hosts, []any{"*"}) || !reflect.DeepEqual(gws, []any{"canary-gateway"}) {
		t.Errorf("VirtualService canary: hosts %v, gateways %v", hosts, gws)
	}
	for _, s := range []struct {
		args []string
		want string
	}{
		{nil, "v1=90,v2=10"},
		{[]string{"step", "canary", "--to", "v2", "--by", "10"}, "v1=80,v2=20"},
		{[]string{"promote", "canary", "--to", "v2"}, "v2=100"},
		{[]string{"rollback", "canary"}, "v1=80,v2=20"},
	} {
		if s.args != nil {
			meshRun(t, c, 0, append(append([]string{"canary"}, s.args...), "-n", ns)...)
		}
		if got := split(t, getObject(t, c, virtualServices, ns, "canary")); got != s.want {
			t.Errorf("after canary %v: %s, want %s", s.args, got, s.want)
		}
	}
	out, _ = meshRun(t, c, 0, "canary", "status", "canary", "-n", ns)
	for _, want := range []string{"v1      80      app=v1  appv1 1/1 ready", "v2      20      app=v2  appv2 1/1 ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("canary status lacks %q:\n%s", want, out)
		}
	}
	step("8. canary set, step, promote, rollback, status")

	// 9. The circuit breaker on httpbin, and Fortio's load from inside the
	// mesh, as far as a cluster without containers goes: the Job is made,
	// its result never comes, and it is deleted.
	istio(t, c, 0, "sample", "deploy", "httpbin", "fortio", "-n", ns, "--timeout", "2m")
	meshRun(t, c, 0, "resilience", "circuit-breaker", "httpbin", "-n", ns,
		"--max-connections", "1", "--http1-max-pending-requests", "1", "--max-requests-per-connection", "1",
		"--consecutive-gateway-errors", "1", "--interval", "1s", "--base-ejection-time", "3m", "--max-ejection-percent", "100")
	wantTP := map[string]any{
		"connectionPool": map[string]any{
			"tcp":  map[string]any{"maxConnections": int64(1)},
			"http": map[string]any{"http1MaxPendingRequests": int64(1), "maxRequestsPerConnection": int64(1)},
		},
		"outlierDetection": map[string]any{"consecutiveGatewayErrors": int64(1), "interval": "1s", "baseEjectionTime": "3m", "maxEjectionPercent": int64(100)},
	}
	if got := field(t, getObject(t, c, destinationRules, ns, "httpbin"), "spec", "trafficPolicy"); !reflect.DeepEqual(got, wantTP) {
		t.Errorf("httpbin's trafficPolicy %v", got)
	}
	_, errOut = meshRun(t, c, 1, "load", "http://httpbin:8000/get", "--in-cluster", "--namespace", ns, "-c", "2", "-n", "20", "--qps", "0", "--job-timeout", "10s")
	if !strings.Contains(errOut, "created in namespace "+ns) {
		t.Errorf("load --in-cluster:\n%s", errOut)
	}
	if jobs, err := c.clients.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{}); err != nil || len(jobs.Items) != 0 {
		t.Errorf("Jobs left after load --in-cluster: %v %v", jobs, err)
	}
	step("9. circuit-breaker httpbin, load --in-cluster")

	// 10 and 11. Timeout and fault, then retries and an abort instead.
	istio(t, c, 0, "sample", "deploy", "nginx", "tomcat", "-n", ns, "--timeout", "2m")
	wantNames(t, "nginx's ConfigMap", objectNames(t, c, configMapsGVR, ns, "kubectl-mesh.io/sample=nginx"), "nginx-conf")
	meshRun(t, c, 0, "resilience", "timeout", "nginx-svc", "2s", "-n", ns)
	meshRun(t, c, 0, "resilience", "fault", "tomcat-svc", "--delay", "10s", "-n", ns)
	if r := route(t, c, ns, "nginx-svc"); r["timeout"] != "2s" {
		t.Errorf("nginx-svc's route after the timeout: %v", r)
	}
	delay := map[string]any{"fixedDelay": "10s", "percentage": map[string]any{"value": int64(100)}}
	if r := route(t, c, ns, "tomcat-svc"); !reflect.DeepEqual(r["fault"], map[string]any{"delay": delay}) {
		t.Errorf("tomcat-svc's route after the delay: %v", r)
	}
	step("10. timeout nginx-svc, fault --delay tomcat-svc")
	out, _ = meshRun(t, c, 0, "resilience", "retry", "nginx-svc", "--attempts", "3", "--per-try-timeout", "2s", "--replace", "-n", ns)
	if out != "virtualservice/nginx-svc: retries; timeout 2s removed (--replace)\n" {
		t.Errorf("retry --replace: %q", out)
	}
	out, _ = meshRun(t, c, 0, "resilience", "fault", "tomcat-svc", "--abort", "503", "--replace", "-n", ns)
	if out != "virtualservice/tomcat-svc: fault abort 503 for 100%; fault.delay removed (--replace)\n" {
		t.Errorf("fault --abort --replace: %q", out)
	}
	wantRetries := map[string]any{"attempts": int64(3), "perTryTimeout": "2s"}
	if r := route(t, c, ns, "nginx-svc"); !reflect.DeepEqual(r["retries"], wantRetries) || r["timeout"] != nil {
		t.Errorf("nginx-svc's route after the retries: %v", r)
	}
	abort := map[string]any{"httpStatus": int64(503), "percentage": map[string]any{"value": int64(100)}}
	if r := route(t, c, ns, "tomcat-svc"); !reflect.DeepEqual(r["fault"], map[string]any{"abort": abort}) {
		t.Errorf("tomcat-svc's route after the abort: %v", r)
	}
	step("11. retry --replace, fault --abort --replace")

	// Clear: what kubectl mesh made for the settings goes with them.
	for _, h := range []struct{ host, kind string }{
		{"nginx-svc", "virtualservice"}, {"tomcat-svc", "virtualservice"}, {"httpbin", "destinationrule"},
	} {
		if out, _ := meshRun(t, c, 0, "resilience", "clear", h.host, "-n", ns); out != h.kind+"/"+h.host+" deleted\n" {
			t.Errorf("clear %s: %q", h.host, out)
		}
	}
	wantNames(t, "VirtualServices after clear", objectNames(t, c, virtualServices, ns, ""), "bookinfo", "canary")
	wantNames(t, "DestinationRules after clear", objectNames(t, c, destinationRules, ns, ""), "canary")
	step("resilience clear")

	// 7. Bookinfo's objects go; the samples' stay.
	out = istio(t, c, 0, "bookinfo", "cleanup", "-n", ns)
	if n := strings.Count(out, " deleted"); n != 16 {
		t.Errorf("bookinfo cleanup deleted %d objects, want 16:\n%s", n, out)
	}
	wantNames(t, "Deployments after bookinfo cleanup", objectNames(t, c, deploymentsGVR, ns, ""),
		"appv1", "appv2", "fortio-deploy", "httpbin", "nginx", "tomcat")
	gone(t, c, gvrGateway, ns, "bookinfo-gateway")
	gone(t, c, virtualServices, ns, "bookinfo")
	step("7. bookinfo cleanup")

	// The samples go, with the canary's VirtualService and DestinationRule.
	istio(t, c, 0, "sample", "cleanup", "-n", ns)
	for _, gvr := range []schema.GroupVersionResource{deploymentsGVR, servicesGVR, configMapsGVR, gvrGateway, virtualServices, destinationRules} {
		wantNames(t, gvr.Resource+" made by kubectl mesh after sample cleanup", objectNames(t, c, gvr, ns, managed))
	}
	step("sample cleanup")

	// 2. Istio goes.
	out = istio(t, c, 0, "uninstall")
	uninstalled = true
	if !strings.HasSuffix(out, "✔ Uninstall complete\n") {
		t.Errorf("uninstall:\n%s", out)
	}
	if d := istioDeployments(t, c); len(d) != 0 {
		t.Errorf("Deployments left in istio-system: %v", d)
	}
	step("2. uninstall")
}
