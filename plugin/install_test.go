package plugin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/istioinstall"
	"github.com/kubectl-mesh/kubectl-mesh/test/istiocharts"
)

// renderInstall runs `install --dry-run=client -o yaml` on Istio's charts
// and decodes the objects.
func renderInstall(t *testing.T, charts string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	argv := append([]string{"install", "--charts", charts, "--dry-run=client", "-o", "yaml"}, noCluster...)
	out, errOut, code := run(t, "", append(argv, args...)...)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr: %s", code, errOut)
	}
	objs, err := manifestObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func TestInstallDryRunGolden(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	for _, profile := range []string{"demo", "default", "minimal"} {
		t.Run(profile, func(t *testing.T) {
			out, errOut, code := run(t, "", append([]string{"install", "--profile", profile, "--charts", charts, "--dry-run=client"}, noCluster...)...)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d; stderr: %s", code, errOut)
			}
			golden(t, "install-"+profile+"-dry-run.text", out)
		})
	}
}

// The demo profile's workloads, Services and webhook configurations in
// full: what decides whether Bookinfo's gateway matches and how admission
// behaves. (The CRDs and the injector's template are Istio's, unchanged.)
//
// The hub and tag are pinned: the charts' defaults change with the module's
// version, and the golden names no registry host.
func TestInstallDemoObjectsGolden(t *testing.T) {
	objs := renderInstall(t, istiocharts.Dir(t, ".."), "--profile", "demo", "--set", "global.hub=istio", "--set", "global.tag=1.32.0")
	var docs []string
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment", "Service", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			b, err := printYAML(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, b)
		}
	}
	golden(t, "install-demo-objects.yaml", "---\n"+strings.Join(docs, "---\n"))
}

func printYAML(obj map[string]any) (string, error) {
	var b strings.Builder
	err := printObject(&b, "yaml", obj)
	return b.String(), err
}

func TestInstallProfiles(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	for _, tc := range []struct {
		profile     string
		deployments []string
	}{
		{"demo", []string{"istiod", "istio-egressgateway", "istio-ingressgateway"}},
		{"default", []string{"istiod", "istio-ingressgateway"}},
		{"minimal", []string{"istiod"}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			objs := renderInstall(t, charts, "--profile", tc.profile)
			var got []string
			for _, o := range objs {
				if o.GetKind() == "Deployment" {
					got = append(got, o.GetName())
					if o.GetNamespace() != "istio-system" {
						t.Errorf("Deployment %s in namespace %q", o.GetName(), o.GetNamespace())
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.deployments, ",") {
				t.Errorf("Deployments %v, want %v", got, tc.deployments)
			}
			if find(objs, "CustomResourceDefinition", "virtualservices.networking.istio.io") == nil {
				t.Error("no VirtualService CRD")
			}
		})
	}
}

// TestInstallFromTheDefaultRepository: with no Helm configuration at all
// (a fresh HOME), install takes the pinned version from the default chart
// repository (here a loopback server with charts packaged from Istio's
// module at that version), keeps them in Helm's cache, and installs again
// from there once the repository is gone.
func TestInstallFromTheDefaultRepository(t *testing.T) {
	srv := istiocharts.Repository(t, "..", istioinstall.DefaultVersion)
	istiocharts.SetFreshHome(t)
	t.Setenv(istioinstall.RepoEnv, srv.URL)
	argv := append([]string{"install", "--profile", "demo", "--dry-run=client", "-o", "yaml"}, noCluster...)
	first, errOut, code := run(t, "", argv...)
	if code != ExitOK {
		t.Fatalf("from the repository: exit %d; stderr: %s", code, errOut)
	}
	if objs, err := manifestObjects(first); err != nil || find(objs, "Deployment", "istio-egressgateway") == nil {
		t.Fatalf("demo profile objects: %v", err)
	}
	srv.Close()
	second, errOut, code := run(t, "", argv...)
	if code != ExitOK {
		t.Fatalf("from the cache, the repository gone: exit %d; stderr: %s", code, errOut)
	}
	if second != first {
		t.Error("the cached charts render otherwise")
	}
}

// TestInstallProfileAsIstioctlSetsIt: `--set profile=demo`, the istioctl
// habit, installs what `--profile demo` installs.
func TestInstallProfileAsIstioctlSetsIt(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	argv := append([]string{"install", "--charts", charts, "--dry-run=client", "-o", "yaml"}, noCluster...)
	want, _, code := run(t, "", append(argv, "--profile", "demo")...)
	if code != ExitOK {
		t.Fatalf("--profile demo: exit %d", code)
	}
	for _, args := range [][]string{{"--set", "profile=demo"}, {"--set", "profile=demo", "--profile", "demo"}} {
		got, errOut, code := run(t, "", append(argv, args...)...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d; stderr: %s", args, code, errOut)
		}
		if got != want {
			t.Errorf("%v renders otherwise than --profile demo", args)
		}
	}
}

func TestInstallGatewayLabelsAndServices(t *testing.T) {
	objs := renderInstall(t, istiocharts.Dir(t, ".."), "--profile", "demo")
	for name, want := range map[string]string{"istio-ingressgateway": "ingressgateway", "istio-egressgateway": "egressgateway"} {
		d := find(objs, "Deployment", name)
		if d == nil {
			t.Fatalf("no Deployment %s", name)
		}
		labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
		if labels["istio"] != want {
			t.Errorf("%s pods carry istio=%q, want %q", name, labels["istio"], want)
		}
		sel, _, _ := unstructured.NestedStringMap(find(objs, "Service", name).Object, "spec", "selector")
		if sel["istio"] != want {
			t.Errorf("Service %s selects istio=%q", name, sel["istio"])
		}
		if find(objs, "HorizontalPodAutoscaler", name) != nil {
			t.Errorf("demo profile has an autoscaler for %s (istioctl's demo has none)", name)
		}
	}
	typeOf := func(name string) string {
		s, _, _ := unstructured.NestedString(find(objs, "Service", name).Object, "spec", "type")
		return s
	}
	if typeOf("istio-ingressgateway") != "LoadBalancer" || typeOf("istio-egressgateway") != "ClusterIP" {
		t.Errorf("Service types: ingress %s, egress %s", typeOf("istio-ingressgateway"), typeOf("istio-egressgateway"))
	}
}

// Values go to istio-base and istiod; their global.* reaches the gateways;
// a key named after a release goes to that release only.
func TestInstallValuesRouting(t *testing.T) {
	objs := renderInstall(t, istiocharts.Dir(t, ".."), "--profile", "demo",
		"--set", "global.hub=example/istio", "--set", "global.tag=1.2.3",
		"--set", "istio-ingressgateway.service.type=NodePort",
		"--set", "pilot.env.EXAMPLE=yes")
	image := func(name string) string {
		cs, _, _ := unstructured.NestedSlice(find(objs, "Deployment", name).Object, "spec", "template", "spec", "containers")
		return cs[0].(map[string]any)["image"].(string)
	}
	if got := image("istiod"); got != "example/istio/pilot:1.2.3" {
		t.Errorf("istiod image %s", got)
	}
	if s, _, _ := unstructured.NestedString(find(objs, "Service", "istio-ingressgateway").Object, "spec", "type"); s != "NodePort" {
		t.Errorf("ingress Service type %s, want NodePort", s)
	}
	if s, _, _ := unstructured.NestedString(find(objs, "Service", "istio-egressgateway").Object, "spec", "type"); s != "ClusterIP" {
		t.Errorf("egress Service type %s: a release-named key leaked to another release", s)
	}
}

func TestInstallRevision(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	out, errOut, code := run(t, "", append([]string{"install", "--profile", "minimal", "--revision", "canary", "--charts", charts, "--dry-run=client"}, noCluster...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "release istiod-canary (chart istiod") || !strings.Contains(out, "  Deployment/istiod-canary\n") {
		t.Errorf("revision canary:\n%s", out)
	}
}

// Istio's defaults stay for real clusters: the sidecar injector fails
// closed. The simulated cluster's values file leaves every webhook that
// calls istiod out (docs/simulated-cluster.md).
func TestInstallWebhooksAndSimValues(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	objs := renderInstall(t, charts, "--profile", "demo")
	mwc := find(objs, "MutatingWebhookConfiguration", "istio-sidecar-injector")
	if mwc == nil {
		t.Fatal("no sidecar injector webhook by default")
	}
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	for _, h := range hooks {
		if fp := h.(map[string]any)["failurePolicy"]; fp != "Fail" {
			t.Errorf("webhook %v failurePolicy %v, want Istio's Fail", h.(map[string]any)["name"], fp)
		}
	}
	sim := renderInstall(t, charts, "--profile", "demo", "-f", filepath.Join("..", "hack", "sim", "istio-values.yaml"))
	for _, o := range sim {
		if strings.HasSuffix(o.GetKind(), "WebhookConfiguration") {
			t.Errorf("with the simulated cluster's values, %s/%s is still rendered", o.GetKind(), o.GetName())
		}
	}
	if find(sim, "ConfigMap", "istio-sidecar-injector") == nil {
		t.Error("the injector ConfigMap (which hack/sim/sidecar-injector.yaml keys on) is gone")
	}
	if len(sim) != len(objs)-3 {
		t.Errorf("sim values removed %d objects, want the 3 webhook configurations", len(objs)-len(sim))
	}
}

func TestInstallJSON(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	out, errOut, code := run(t, "", append([]string{"install", "--profile", "minimal", "--charts", charts, "--dry-run=client", "-o", "json"}, noCluster...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) < 20 {
		t.Errorf("kind %s with %d items", list.Kind, len(list.Items))
	}
}

func TestInstallBadInput(t *testing.T) {
	charts := istiocharts.Dir(t, "..")
	empty := t.TempDir()
	badValues := filepath.Join(empty, "bad.yaml")
	if err := os.WriteFile(badValues, []byte("a: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Helm's repositories file, empty: no repository named istio, so the
	// default repository, which points at nothing here.
	t.Setenv("HELM_REPOSITORY_CONFIG", filepath.Join(empty, "repositories.yaml"))
	t.Setenv("HELM_REPOSITORY_CACHE", filepath.Join(empty, "cache"))
	t.Setenv(istioinstall.RepoEnv, "http://127.0.0.1:1")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown profile", []string{"--profile", "ambient", "--charts", charts}, ExitUsage, `--profile: unknown profile "ambient" (default, demo, minimal)`},
		{"unknown profile set as istioctl does", []string{"--set", "profile=ambient", "--charts", charts}, ExitUsage, `--profile: unknown profile "ambient"`},
		{"two profiles", []string{"--profile", "minimal", "--set", "profile=demo", "--charts", charts}, ExitUsage, "--set profile=demo and --profile minimal disagree"},
		{"bad dry-run", []string{"--dry-run=maybe"}, ExitUsage, "--dry-run must be none, client or server"},
		{"bad output", []string{"--dry-run", "-o", "xml"}, ExitUsage, "--output must be yaml or json"},
		{"zero timeout", []string{"--timeout", "0s"}, ExitUsage, "--timeout must be positive"},
		{"bad revision", []string{"--revision", "Canary_1"}, ExitUsage, `--revision "Canary_1"`},
		{"version with charts", []string{"--charts", charts, "--version", "1.2.3"}, ExitUsage, "--version picks charts from the chart repository"},
		{"repo with charts", []string{"--charts", charts, "--repo", "http://127.0.0.1:1"}, ExitUsage, "give one"},
		{"charts folder without charts", []string{"--charts", empty, "--dry-run"}, ExitUsage, "--charts " + empty + ": no chart base in"},
		{"unreadable values", []string{"--charts", charts, "-f", filepath.Join(empty, "nope.yaml"), "--dry-run"}, ExitUsage, "reading values"},
		{"malformed values", []string{"--charts", charts, "-f", badValues, "--dry-run"}, ExitUsage, "values file " + badValues},
		{"value the gateway chart rejects", []string{"--charts", charts, "--set", "istio-ingressgateway.noSuchField=1", "--dry-run"}, ExitUsage, "values for release istio-ingressgateway (chart gateway)"},
		{"default repository unreachable", []string{"--dry-run"}, ExitFailed, "fetching chart base 1.32.0 from http://127.0.0.1:1: "},
		{"the way out when it is unreachable", []string{"--dry-run"}, ExitFailed, "kubectl mesh install --charts DIR"},
		{"repository unreachable", []string{"--repo", "http://127.0.0.1:1", "--dry-run"}, ExitFailed, "fetching chart base 1.32.0 from http://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, "", append(append([]string{"install"}, tc.args...), noCluster...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q lacks %q", errOut, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
}

func TestUninstallAndStatusBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"uninstall", "--purge", "--revision", "canary"}, "does not go with --revision"},
		{[]string{"uninstall", "--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"uninstall", "--dry-run=later"}, "--dry-run must be none, client or server"},
		{[]string{"status", "-o", "yaml"}, "--output must be text or json"},
	} {
		_, errOut, code := run(t, "", append(tc.args, noCluster...)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Every command's help has examples.
func TestInstallHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"install", "uninstall", "status"} {
		out, _, code := run(t, "", cmd, "--help")
		if code != ExitOK || !regexp.MustCompile(`(?m)^Examples:`).MatchString(out) {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
}

// install --gateway-api reads the whole manifest before anything else; a
// client dry run lists its objects ahead of Istio's, or prints them with
// Istio's as one stream of documents.
func TestInstallGatewayAPIDryRun(t *testing.T) {
	const manifest = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gateways.gateway.networking.k8s.io}
spec: {group: gateway.networking.k8s.io}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: httproutes.gateway.networking.k8s.io}
spec: {group: gateway.networking.k8s.io}
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/standard-install.yaml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(manifest))
	}))
	defer srv.Close()
	charts := istiocharts.Dir(t, "..")
	base := append([]string{"install", "--profile", "minimal", "--charts", charts, "--dry-run=client", "--gateway-api"}, noCluster...)

	out, errOut, code := run(t, "", append(base, "--gateway-api-manifest", srv.URL+"/standard-install.yaml")...)
	want := "Gateway API CRDs from " + srv.URL + "/standard-install.yaml would be installed unless the cluster has gateways.gateway.networking.k8s.io (dry run, client):\n" +
		"  CustomResourceDefinition/gateways.gateway.networking.k8s.io\n  CustomResourceDefinition/httproutes.gateway.networking.k8s.io\nrelease istio-base "
	if code != ExitOK || !strings.HasPrefix(out, want) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant it to start with\n%s", code, out, errOut, want)
	}

	out, errOut, code = run(t, "", append(base, "--gateway-api-manifest", srv.URL+"/standard-install.yaml", "-o", "yaml")...)
	objs, err := manifestObjects(out)
	if code != ExitOK || err != nil {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", code, err, errOut)
	}
	if objs[0].GetName() != "gateways.gateway.networking.k8s.io" || find(objs, "Deployment", "istiod") == nil {
		t.Errorf("objects: first %s, istiod %v", objs[0].GetName(), find(objs, "Deployment", "istiod") != nil)
	}

	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--gateway-api-manifest", srv.URL + "/v0/standard-install.yaml"}, ExitFailed, "error: fetching " + srv.URL + "/v0/standard-install.yaml: 404 Not Found\n"},
		{[]string{"--gateway-api=false", "--gateway-api-manifest", "x.yaml"}, ExitUsage, "error: --gateway-api-manifest goes with --gateway-api\n"},
	}
	for _, tt := range tests {
		out, errOut, code := run(t, "", append(base, tt.args...)...)
		if code != tt.code || errOut != tt.want {
			t.Errorf("%v: exit %d\nstdout:\n%s\nstderr:\n%s\nwant\n%s", tt.args, code, out, errOut, tt.want)
		}
	}
}
