package plugin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	kubernetesfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/webhookstatus"
)

// noCluster makes sure a command never reaches for a cluster.
var noCluster = []string{"--kubeconfig", filepath.Join("testdata", "no-such-kubeconfig")}

// dryRunObjects runs `webhook install --dry-run=client -o yaml` with args
// and decodes what it prints.
func dryRunObjects(t *testing.T, stdin string, args ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	argv := append([]string{"webhook", "install", "--dry-run=client", "-o", "yaml"}, noCluster...)
	out, errOut, code := run(t, stdin, append(argv, args...)...)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr: %s", errOut)
	}
	if !strings.HasPrefix(out, "---\n") {
		t.Errorf("output does not start with a YAML document marker:\n%.200s", out)
	}
	objs, err := manifestObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[o.GetKind()+"/"+o.GetName()] = o
	}
	return byName
}

func webhookOf(t *testing.T, objs map[string]*unstructured.Unstructured, name string) admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	u := objs["ValidatingWebhookConfiguration/"+name]
	if u == nil {
		t.Fatalf("no ValidatingWebhookConfiguration %s among %v", name, keys(objs))
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &vwc); err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) != 2 || vwc.Webhooks[0].Name != WebhookName {
		t.Fatalf("webhooks %+v", vwc.Webhooks)
	}
	return vwc.Webhooks[0]
}

// configuredPolicy is the failure policy mesh-webhook gives the
// CREATE/UPDATE webhook once it serves (the chart installs it as Ignore).
func configuredPolicy(t *testing.T, objs map[string]*unstructured.Unstructured) string {
	t.Helper()
	if fp := failurePolicy(webhookOf(t, objs, "mesh-webhook")); fp != "Ignore" {
		t.Errorf("installed with failurePolicy %q, want Ignore until mesh-webhook serves", fp)
	}
	_, _, policy := webhookstatus.DeploymentNames(deploymentOf(t, objs), "", "")
	return policy
}

func deploymentOf(t *testing.T, objs map[string]*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	u := objs["Deployment/mesh-webhook"]
	if u == nil {
		t.Fatalf("no Deployment mesh-webhook among %v", keys(objs))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func failurePolicy(wh admissionregistrationv1.ValidatingWebhook) string {
	if wh.FailurePolicy == nil {
		return ""
	}
	return string(*wh.FailurePolicy)
}

func TestWebhookInstallDryRunClient(t *testing.T) {
	objs := dryRunObjects(t, "")
	wh := webhookOf(t, objs, "mesh-webhook")
	if fp := configuredPolicy(t, objs); fp != "Fail" {
		t.Errorf("failurePolicy %q, want Fail", fp)
	}
	if wh.TimeoutSeconds == nil || *wh.TimeoutSeconds != 3 || wh.ClientConfig.Service == nil || wh.ClientConfig.Service.Namespace != DefaultWebhookNamespace {
		t.Errorf("webhook %+v", wh)
	}
	for _, want := range []string{
		"Deployment/mesh-webhook", "Service/mesh-webhook", "ServiceAccount/mesh-webhook", "ClusterRole/mesh-webhook",
		"ClusterRoleBinding/mesh-webhook", "Role/mesh-webhook-certs", "RoleBinding/mesh-webhook-certs",
		"Secret/mesh-webhook-tls", "ConfigMap/mesh-webhook-config", "PodDisruptionBudget/mesh-webhook",
	} {
		if objs[want] == nil {
			t.Errorf("%s not rendered (got %v)", want, keys(objs))
		}
	}
	for name, o := range objs {
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding":
		default:
			if o.GetNamespace() != DefaultWebhookNamespace {
				t.Errorf("%s in namespace %q", name, o.GetNamespace())
			}
		}
	}
	if d := deploymentOf(t, objs); *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d", *d.Spec.Replicas)
	}
}

func TestWebhookInstallSet(t *testing.T) {
	objs := dryRunObjects(t, "", "--set", "failurePolicy=Ignore", "--set", "excludedNamespaces={legacy,sandbox}", "--set", "replicas=3")
	wh := webhookOf(t, objs, "mesh-webhook")
	if fp := configuredPolicy(t, objs); fp != "Ignore" {
		t.Errorf("failurePolicy %q, want Ignore", fp)
	}
	excluded := strings.Join(wh.NamespaceSelector.MatchExpressions[0].Values, ",")
	if excluded != "kube-system,kube-node-lease,kubectl-mesh-system,legacy,sandbox" {
		t.Errorf("excluded namespaces %s", excluded)
	}
	if d := deploymentOf(t, objs); *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
	}
	// Nested values and the configuration's name.
	objs = dryRunObjects(t, "", "--set", "webhookConfigurationName=mesh-webhook-prod", "--set", "certificates.mode=cert-manager")
	if u := objs["ValidatingWebhookConfiguration/mesh-webhook-prod"]; u == nil || u.GetAnnotations()["cert-manager.io/inject-ca-from"] == "" {
		t.Errorf("cert-manager configuration not rendered: %v", keys(objs))
	}
	if objs["Certificate/mesh-webhook-serving"] == nil {
		t.Errorf("no Certificate: %v", keys(objs))
	}
}

func TestWebhookInstallValuesFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "values.yaml")
	values := "failurePolicy: Ignore\nreplicas: 1\nexcludedNamespaces: [legacy]\npolicy:\n  rules:\n    MESH0104: warning\n"
	if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	objs := dryRunObjects(t, "", "-f", file)
	if fp := configuredPolicy(t, objs); fp != "Ignore" {
		t.Errorf("failurePolicy %q, want Ignore from -f", fp)
	}
	if objs["PodDisruptionBudget/mesh-webhook"] != nil {
		t.Error("PodDisruptionBudget with replicas 1 from -f")
	}
	cfg, _, _ := unstructured.NestedString(objs["ConfigMap/mesh-webhook-config"].Object, "data", "config.yaml")
	if !strings.Contains(cfg, `MESH0104: "warning"`) {
		t.Errorf("config.yaml does not carry policy.rules from -f:\n%s", cfg)
	}

	// Later files win, --set wins over files, maps merge.
	second := filepath.Join(dir, "second.yaml")
	if err := os.WriteFile(second, []byte("replicas: 4\npolicy:\n  clusterDomain: corp.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs = dryRunObjects(t, "", "-f", file, "-f", second, "--set", "failurePolicy=Fail")
	if fp := configuredPolicy(t, objs); fp != "Fail" {
		t.Errorf("failurePolicy %q: --set must win over -f", fp)
	}
	if d := deploymentOf(t, objs); *d.Spec.Replicas != 4 {
		t.Errorf("replicas %d: the later -f must win", *d.Spec.Replicas)
	}
	cfg, _, _ = unstructured.NestedString(objs["ConfigMap/mesh-webhook-config"].Object, "data", "config.yaml")
	if !strings.Contains(cfg, `MESH0104: "warning"`) || !strings.Contains(cfg, `clusterDomain: "corp.example"`) {
		t.Errorf("policy maps of both files not merged:\n%s", cfg)
	}

	// - reads standard input.
	objs = dryRunObjects(t, "failurePolicy: Ignore\n", "-f", "-")
	if fp := configuredPolicy(t, objs); fp != "Ignore" {
		t.Errorf("failurePolicy %q from stdin", fp)
	}
}

func TestWebhookInstallReleaseNamespace(t *testing.T) {
	objs := dryRunObjects(t, "", "--release-namespace", "mesh-ops", "-n", "team-a")
	wh := webhookOf(t, objs, "mesh-webhook")
	if wh.ClientConfig.Service.Namespace != "mesh-ops" {
		t.Errorf("service namespace %s", wh.ClientConfig.Service.Namespace)
	}
	if !strings.Contains(strings.Join(wh.NamespaceSelector.MatchExpressions[0].Values, ","), "mesh-ops") {
		t.Errorf("the release namespace is not excluded: %v", wh.NamespaceSelector.MatchExpressions[0].Values)
	}
	if ns := objs["Deployment/mesh-webhook"].GetNamespace(); ns != "mesh-ops" {
		t.Errorf("Deployment in %s; -n must not move the release", ns)
	}
}

func TestWebhookInstallOutputs(t *testing.T) {
	out, errOut, code := run(t, "", append([]string{"webhook", "install", "--dry-run=client", "-o", "json"}, noCluster...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%.300s", err, out)
	}
	if list.Kind != "List" || len(list.Items) < 10 {
		t.Errorf("kind %s with %d items", list.Kind, len(list.Items))
	}
	found := false
	for _, it := range list.Items {
		found = found || it["kind"] == "ValidatingWebhookConfiguration"
	}
	if !found {
		t.Error("no ValidatingWebhookConfiguration in the JSON list")
	}

	// Without -o: what would be installed, one object a line.
	out, _, code = run(t, "", append([]string{"webhook", "install", "--dry-run"}, noCluster...)...)
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "webhook-install-dry-run.text", out)
}

func TestWebhookInstallBadUsage(t *testing.T) {
	notYAML := filepath.Join(t.TempDir(), "not-yaml.yaml")
	if err := os.WriteFile(notYAML, []byte("failurePolicy: [Fail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"set without value", []string{"--set", "failurePolicy"}, "--set failurePolicy"},
		{"set outside the enum", []string{"--set", "failurePolicy=Maybe"}, "failurePolicy"},
		{"set of the wrong type", []string{"--set", "replicas=two"}, "replicas"},
		{"set of an unknown value", []string{"--set", "replicaCount=2"}, "replicaCount"},
		{"missing values file", []string{"-f", "testdata/no-such-values.yaml"}, "no-such-values.yaml"},
		{"values file not YAML", []string{"-f", notYAML}, "not-yaml.yaml"},
		{"dry-run mode", []string{"--dry-run=maybe"}, "--dry-run"},
		{"output format", []string{"-o", "table"}, "--output"},
		{"release namespace", []string{"--release-namespace", "Not_A_Namespace"}, "--release-namespace"},
		{"argument", []string{"extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"webhook", "install", "--dry-run=client"}, noCluster...)
			out, errOut, code := run(t, "", append(args, tc.args...)...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, ExitUsage, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not mention %q", errOut, tc.want)
			}
			if out != "" {
				t.Errorf("stdout: %s", out)
			}
		})
	}
}

func TestWebhookUnknownSubcommand(t *testing.T) {
	if _, _, code := run(t, "", "webhook", "reinstall"); code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
}

// fakeHelm is an in-memory Helm configuration over a printing kube client:
// releases are stored, nothing is applied.
func fakeHelm() (func(string) (*action.Configuration, error), *storage.Storage) {
	cfg := helmrelease.MemoryConfig(DefaultWebhookNamespace, io.Discard)
	return func(string) (*action.Configuration, error) { return cfg, nil }, cfg.Releases
}

func TestWebhookInstallUpgradeUninstall(t *testing.T) {
	helmCfg, store := fakeHelm()
	kube := kubernetesfake.NewClientset()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	flags := genericclioptions.NewConfigFlags(false)

	install := func(sets ...string) {
		t.Helper()
		out.Reset()
		o := NewWebhookInstallOptions(flags, streams)
		o.SetValues = sets
		o.env.newHelm = helmCfg
		o.env.newClients = func() (kubernetes.Interface, dynamic.Interface, error) { return kube, nil, nil }
		if err := o.Complete(nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	install()
	if !strings.HasPrefix(out.String(), "release mesh-webhook installed in namespace kubectl-mesh-system (revision 1)") {
		t.Errorf("install said %q", out.String())
	}
	if !strings.Contains(out.String(), "kubectl mesh webhook status") {
		t.Errorf("install does not print the chart's notes:\n%s", out.String())
	}
	ns, err := kube.CoreV1().Namespaces().Get(context.Background(), DefaultWebhookNamespace, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("release namespace not created: %v", err)
	}
	if ns.Labels["app.kubernetes.io/part-of"] != "kubectl-mesh" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	if !strings.Contains(errOut.String(), "namespace/kubectl-mesh-system created") {
		t.Errorf("stderr %q", errOut.String())
	}

	install("failurePolicy=Ignore")
	if !strings.HasPrefix(out.String(), "release mesh-webhook upgraded in namespace kubectl-mesh-system (revision 2)") {
		t.Errorf("second install said %q", out.String())
	}
	rel, err := store.Last(WebhookRelease)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Config["failurePolicy"] != "Ignore" || !strings.Contains(rel.Manifest, "--failure-policy=Ignore") {
		t.Errorf("revision %d config %v", rel.Version, rel.Config)
	}
	// Values are exactly those given: a plain install resets to Fail.
	install()
	if rel, _ = store.Last(WebhookRelease); !strings.Contains(rel.Manifest, "--failure-policy=Fail") || rel.Version != 3 {
		t.Errorf("revision %d does not reset the values", rel.Version)
	}

	uninstall := func(dryRun string) string {
		t.Helper()
		out.Reset()
		o := NewWebhookUninstallOptions(flags, streams)
		o.env.newHelm = helmCfg
		o.DryRun = dryRun
		if err := o.Complete(nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if got := uninstall("client"); !strings.Contains(got, "would be uninstalled") {
		t.Errorf("uninstall --dry-run said %q", got)
	}
	if _, err := store.Last(WebhookRelease); err != nil {
		t.Errorf("uninstall --dry-run removed the release: %v", err)
	}
	if got := uninstall("none"); got != "release mesh-webhook uninstalled from namespace kubectl-mesh-system (the namespace is kept)\n" {
		t.Errorf("uninstall said %q", got)
	}
	if _, err := store.Last(WebhookRelease); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("release still stored: %v", err)
	}
	if got := uninstall("none"); got != "release mesh-webhook is not installed in namespace kubectl-mesh-system: nothing to uninstall\n" {
		t.Errorf("second uninstall said %q", got)
	}
}

// ----------------------------------------------------------------- status

var vsGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

func istioMapper(withIstio bool) meta.RESTMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{vsGVR.GroupVersion()})
	if withIstio {
		m.Add(vsGVR.GroupVersion().WithKind("VirtualService"), meta.RESTScopeNamespace)
	}
	return m
}

type certs struct{ caPEM, leafPEM []byte }

func newCerts(t *testing.T, dnsName string, notAfter time.Time) certs {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return certs{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		leafPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
	}
}

// installedObjects are what a healthy self-mode install leaves in the
// cluster, read from the chart's own dry-run rendering.
func installedObjects(t *testing.T, c certs, ready int32) []runtime.Object {
	t.Helper()
	objs := dryRunObjects(t, "")
	d := deploymentOf(t, objs)
	d.Status.ReadyReplicas = ready
	d.Status.Replicas = *d.Spec.Replicas
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs["ValidatingWebhookConfiguration/mesh-webhook"].Object, &vwc); err != nil {
		t.Fatal(err)
	}
	// As mesh-webhook leaves it once serving: the CA injected everywhere
	// and the CREATE/UPDATE webhook switched to its policy.
	fail := admissionregistrationv1.Fail
	vwc.Webhooks[0].FailurePolicy = &fail
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.CABundle = c.caPEM
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-webhook-tls", Namespace: DefaultWebhookNamespace},
		Data:       map[string][]byte{"tls.crt": c.leafPEM, "ca.crt": c.caPEM},
	}
	return []runtime.Object{d, &vwc, secret}
}

// admission makes the fake API server answer VirtualService creates with
// err, recording what was sent.
func admission(err error, got *k8stesting.CreateActionImpl) *dynamicfake.FakeDynamicClient {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{vsGVR: "VirtualServiceList"})
	dyn.PrependReactor("create", "virtualservices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*got = a.(k8stesting.CreateActionImpl)
		if err != nil {
			return true, nil, err
		}
		return true, got.Object, nil
	})
	return dyn
}

const denial = `admission webhook "validate.mesh.kubectl-mesh.io" denied the request: Error [MESH0104] VirtualService default/kubectl-mesh-webhook-check spec.http[0].route: the weights of the 2 destinations add up to 110, not 100 (90/20); make them add up to 100
Error [MESH0201] VirtualService default/kubectl-mesh-webhook-check spec.http[0].route[0].destination.host: host kubectl-mesh-webhook-check-a.default.svc.cluster.local is not a Service`

func runStatus(t *testing.T, kube kubernetes.Interface, dyn *dynamicfake.FakeDynamicClient, mapper meta.RESTMapper, namespace string) (string, int) {
	t.Helper()
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewWebhookStatusOptions(genericclioptions.NewConfigFlags(false), streams)
	o.env.newClients = func() (kubernetes.Interface, dynamic.Interface, error) { return kube, dyn, nil }
	o.env.newMapper = func() (meta.RESTMapper, error) { return mapper, nil }
	o.Namespace = namespace
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	if err != nil && !Silent(err) {
		t.Logf("status: %v", err)
	}
	return out.String(), ExitCode(err)
}

func TestWebhookStatusHealthy(t *testing.T) {
	c := newCerts(t, "mesh-webhook.kubectl-mesh-system.svc", time.Now().Add(89*24*time.Hour+time.Hour))
	kube := kubernetesfake.NewClientset(installedObjects(t, c, 2)...)
	var sent k8stesting.CreateActionImpl
	dyn := admission(apierrors.NewForbidden(schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}, "kubectl-mesh-webhook-check", errors.New(denial)), &sent)
	out, code := runStatus(t, kube, dyn, istioMapper(true), "")
	if code != ExitOK {
		t.Errorf("exit %d:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, want := range []string{
		"Deployment kubectl-mesh-system/mesh-webhook: 2/2 replicas ready",
		"ValidatingWebhookConfiguration mesh-webhook: failurePolicy CREATE/UPDATE Fail, DELETE Ignore; caBundle set",
		"serving certificate (Secret kubectl-mesh-system/mesh-webhook-tls): expires ",
		"admission: a VirtualService with weights 90/20 in namespace default was denied by mesh-webhook (MESH0104, MESH0201)",
	} {
		if !strings.HasPrefix(lines[i], "OK   ") || !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q, want OK and %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[2], "(in 89 days)") {
		t.Errorf("expiry line %q", lines[2])
	}
	// What was sent: a server-side dry run of the known-bad object.
	if sent.Namespace != "default" || len(sent.CreateOptions.DryRun) != 1 || sent.CreateOptions.DryRun[0] != metav1.DryRunAll {
		t.Errorf("create in %q with options %+v: want a dry run in default", sent.Namespace, sent.CreateOptions)
	}
	vs, ok := sent.Object.(*unstructured.Unstructured)
	if !ok {
		t.Fatalf("sent %T", sent.Object)
	}
	route, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	b, _ := yaml.Marshal(route)
	if vs.GetAPIVersion() != "networking.istio.io/v1" || vs.GetKind() != "VirtualService" || !strings.Contains(string(b), "weight: 90") || !strings.Contains(string(b), "weight: 20") {
		t.Errorf("sent %s %s:\n%s", vs.GetAPIVersion(), vs.GetKind(), b)
	}

	// -n moves the check.
	out, _ = runStatus(t, kube, dyn, istioMapper(true), "team-a")
	if sent.Namespace != "team-a" || !strings.Contains(out, "in namespace team-a was denied") {
		t.Errorf("check in %q:\n%s", sent.Namespace, out)
	}
}

func TestWebhookStatusFailures(t *testing.T) {
	c := newCerts(t, "mesh-webhook.kubectl-mesh-system.svc", time.Now().Add(30*24*time.Hour))
	var sent k8stesting.CreateActionImpl
	for _, tc := range []struct {
		name   string
		ns     string
		objs   func() []runtime.Object
		err    error
		mapper meta.RESTMapper
		fails  []string
	}{
		{
			name: "nothing installed", objs: func() []runtime.Object { return nil }, mapper: istioMapper(true),
			fails: []string{"Deployment: none in namespace kubectl-mesh-system", "ValidatingWebhookConfiguration mesh-webhook:", "Secret kubectl-mesh-system/mesh-webhook-tls", "was admitted: no mesh-webhook configuration"},
		},
		{
			name: "namespace left out", ns: "kube-system", mapper: istioMapper(true),
			objs: func() []runtime.Object {
				return append(installedObjects(t, c, 2), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}})
			},
			fails: []string{"in namespace kube-system was admitted: the webhook's namespaceSelector leaves namespace kube-system out"},
		},
		{
			name: "namespace opted out", ns: "team", mapper: istioMapper(true),
			objs: func() []runtime.Object {
				return append(installedObjects(t, c, 2), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"kubectl-mesh.io/validation": "disabled"}}})
			},
			fails: []string{"leaves namespace team out (an excluded namespace, or labelled kubectl-mesh.io/validation=disabled)"},
		},
		{
			name: "failure ignored", mapper: istioMapper(true),
			objs: func() []runtime.Object {
				objs := installedObjects(t, c, 2)
				ignore := admissionregistrationv1.Ignore
				objs[1].(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks[0].FailurePolicy = &ignore
				return append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"kubernetes.io/metadata.name": "default"}}})
			},
			fails: []string{"was admitted: the API server could not call mesh-webhook and failurePolicy Ignore let the object through",
				"failurePolicy CREATE/UPDATE Ignore, DELETE Ignore; caBundle set, but validate.mesh.kubectl-mesh.io is still Ignore: mesh-webhook sets Fail once it serves"},
		},
		{
			name: "no pod ready", objs: func() []runtime.Object { return installedObjects(t, c, 0) }, mapper: istioMapper(true),
			err:   apierrors.NewInternalError(errors.New(`failed calling webhook "validate.mesh.kubectl-mesh.io": no endpoints available for service "mesh-webhook"`)),
			fails: []string{"0/2 replicas ready", "was not denied by mesh-webhook: Internal error occurred: failed calling webhook"},
		},
		{
			name: "caBundle missing and certificate expired",
			objs: func() []runtime.Object {
				objs := installedObjects(t, newCerts(t, "mesh-webhook.kubectl-mesh-system.svc", time.Now().Add(-time.Hour)), 2)
				objs[1].(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = nil
				return objs
			},
			mapper: istioMapper(true), err: apierrors.NewForbidden(schema.GroupResource{}, "x", errors.New(denial)),
			fails: []string{"no caBundle yet", "expired"},
		},
		{
			name: "caBundle of another CA",
			objs: func() []runtime.Object {
				objs := installedObjects(t, c, 2)
				objs[1].(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks[0].ClientConfig.CABundle = newCerts(t, "x", time.Now().Add(time.Hour)).caPEM
				return objs
			},
			mapper: istioMapper(true), err: apierrors.NewForbidden(schema.GroupResource{}, "x", errors.New(denial)),
			fails: []string{"caBundle does not verify it"},
		},
		{
			name: "no Istio", objs: func() []runtime.Object { return installedObjects(t, c, 2) }, mapper: istioMapper(false),
			fails: []string{"does not serve VirtualServices"},
		},
		{
			name: "denied by something else", objs: func() []runtime.Object { return installedObjects(t, c, 2) }, mapper: istioMapper(true),
			err:   apierrors.NewForbidden(schema.GroupResource{}, "x", errors.New(`admission webhook "other.example.com" denied the request: no`)),
			fails: []string{"was not denied by mesh-webhook"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runStatus(t, kubernetesfake.NewClientset(tc.objs()...), admission(tc.err, &sent), tc.mapper, tc.ns)
			t.Logf("status:\n%s", out)
			if code != ExitFailed {
				t.Errorf("exit %d, want %d:\n%s", code, ExitFailed, out)
			}
			for _, want := range tc.fails {
				found := false
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(line, "FAIL ") && strings.Contains(line, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no FAIL line with %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestWebhookStatusCertManagerNames(t *testing.T) {
	// With cert-manager the Secret is the cert dir's volume.
	objs := dryRunObjects(t, "", "--set", "certificates.mode=cert-manager", "--set", "webhookConfigurationName=mesh-prod")
	wc, secret, policy := webhookstatus.DeploymentNames(deploymentOf(t, objs), "", "")
	if wc != "mesh-prod" || secret != "mesh-webhook-tls" || policy != "Fail" {
		t.Errorf("names %q %q, failure policy %q", wc, secret, policy)
	}
}

func TestStatusMarks(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
}
