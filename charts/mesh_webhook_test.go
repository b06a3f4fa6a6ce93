package charts

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
	"github.com/kubectl-mesh/kubectl-mesh/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	releaseName      = "mesh-webhook"
	releaseNamespace = "kubectl-mesh-system"
	kubeVersion      = "v1.37.2"
)

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := LoadMeshWebhook()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func capabilities(t *testing.T) *chartutil.Capabilities {
	t.Helper()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	return caps
}

// renderValues renders the chart as `helm template` would for a fresh
// install of release mesh-webhook in kubectl-mesh-system.
func renderValues(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	c := loadChart(t)
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true,
	}, capabilities(t))
	if err != nil {
		return nil, err
	}
	return engine.Render(c, rv)
}

// manifest joins the rendered files, sorted by name, empty ones left out,
// each under a "# Source:" line as helm prints them.
func manifest(files map[string]string) string {
	names := make([]string, 0, len(files))
	for name, content := range files {
		if strings.TrimSpace(content) != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		content := strings.TrimSpace(files[name])
		if strings.HasSuffix(name, "NOTES.txt") {
			b.WriteString("# Source: " + name + "\n")
			for _, line := range strings.Split(content, "\n") {
				b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
			}
			continue
		}
		b.WriteString("---\n# Source: " + name + "\n" + content + "\n")
	}
	return b.String()
}

// rendered is the chart's output decoded: typed objects by kind and name
// (strictly, so a misspelt field fails), and the rest as unstructured.
type rendered struct {
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	clusterRoles map[string]*rbacv1.ClusterRole
	roles        map[string]*rbacv1.Role
	crbs         map[string]*rbacv1.ClusterRoleBinding
	rbs          map[string]*rbacv1.RoleBinding
	pdbs         map[string]*policyv1.PodDisruptionBudget
	vwcs         map[string]*admissionregistrationv1.ValidatingWebhookConfiguration
	other        map[string]*unstructured.Unstructured // kind/name
	kinds        []string
	notes        string
}

func decode(t *testing.T, files map[string]string) *rendered {
	t.Helper()
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		clusterRoles: map[string]*rbacv1.ClusterRole{}, roles: map[string]*rbacv1.Role{},
		crbs: map[string]*rbacv1.ClusterRoleBinding{}, rbs: map[string]*rbacv1.RoleBinding{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, vwcs: map[string]*admissionregistrationv1.ValidatingWebhookConfiguration{},
		other: map[string]*unstructured.Unstructured{},
	}
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			r.notes = content
			continue
		}
		for _, doc := range strings.Split(content, "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			kind := u.GetKind()
			r.kinds = append(r.kinds, kind+"/"+u.GetName())
			ns := u.GetNamespace()
			switch kind {
			case "ValidatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding":
				if ns != "" {
					t.Errorf("%s %s: cluster-scoped with namespace %q", kind, u.GetName(), ns)
				}
			default:
				if ns != releaseNamespace {
					t.Errorf("%s %s: namespace %q, want %q", kind, u.GetName(), ns, releaseNamespace)
				}
			}
			var into any
			switch kind {
			case "Deployment":
				into = set(r.deployments, u.GetName())
			case "Service":
				into = set(r.services, u.GetName())
			case "ConfigMap":
				into = set(r.configMaps, u.GetName())
			case "Secret":
				into = set(r.secrets, u.GetName())
			case "ClusterRole":
				into = set(r.clusterRoles, u.GetName())
			case "Role":
				into = set(r.roles, u.GetName())
			case "ClusterRoleBinding":
				into = set(r.crbs, u.GetName())
			case "RoleBinding":
				into = set(r.rbs, u.GetName())
			case "PodDisruptionBudget":
				into = set(r.pdbs, u.GetName())
			case "ValidatingWebhookConfiguration":
				into = set(r.vwcs, u.GetName())
			case "ServiceAccount":
				into = &corev1.ServiceAccount{}
			default:
				r.other[kind+"/"+u.GetName()] = &u
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Errorf("%s: %s %s does not decode strictly: %v", name, kind, u.GetName(), err)
			}
			if l := u.GetLabels(); l["app.kubernetes.io/instance"] != releaseName || l["app.kubernetes.io/part-of"] != "kubectl-mesh" {
				t.Errorf("%s %s: labels %v lack instance=%s and part-of=kubectl-mesh", kind, u.GetName(), l, releaseName)
			}
		}
	}
	sort.Strings(r.kinds)
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// set allocates a T in m under name and returns it to decode into.
func set[T any](m map[string]*T, name string) *T {
	v := new(T)
	m[name] = v
	return v
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./charts -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("rendered chart differs from %s (go test ./charts -update rewrites it)\n--- got\n%s", path, got)
	}
}

const acmePolicy = `package acme.timeouts

findings contains {
	"code": "ACME0001", "severity": "warning", "category": "other",
	"field": sprintf("spec.http[%d]", [i]),
	"message": "every HTTP route needs a timeout",
} if {
	input.kind == "VirtualService"
	some i, route in input.object.spec.http
	not route.timeout
}
`

var snapshots = []struct {
	name   string
	values map[string]any
}{
	{"default", nil},
	{"cert-manager", map[string]any{"certificates": map[string]any{"mode": "cert-manager"}}},
	{"ignore-excluded", map[string]any{"failurePolicy": "Ignore", "excludedNamespaces": []any{"legacy", "sandbox"}}},
	{"extra-policies", map[string]any{"policy": map[string]any{
		"clusterDomain": "corp.example",
		"rules":         map[string]any{"MESH0104": "warning", "MESH0302": "off"},
		"extraPolicies": map[string]any{"acme.rego": acmePolicy},
	}}},
	{"hardened", hardenedValues},
}

// hardenedValues turns on every opt-in of the chart's surface.
var hardenedValues = map[string]any{
	"optOut": map[string]any{"annotation": "labelled-namespaces", "namespaceLabel": "team.example/break-glass=allowed"},
	"tls":    map[string]any{"minVersion": "1.3", "cipherSuites": []any{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, "http2": true, "clientCASecret": "apiserver-client-ca"},
	"networkPolicy": map[string]any{"enabled": true,
		"webhookFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/24"}}},
		"metricsFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}}},
	"limits":    map[string]any{"maxObjectBytes": 262144, "maxFindings": 20, "maxConcurrentReviews": 8, "queueWait": "500ms", "memoryLimitPercent": 80},
	"liveReads": map[string]any{"qps": 10, "burst": 20},
}

// TestHardenedValues: each value reaches mesh-webhook as the flag it
// documents, and the NetworkPolicy lets the API server and the kubelet in.
func TestHardenedValues(t *testing.T) {
	r := mustRender(t, hardenedValues)
	pod := r.deployments["mesh-webhook"].Spec.Template.Spec
	c := pod.Containers[0]
	o := meshWebhookFlags(t, c)
	if o.OptOutAnnotation != webhook.OptOutLabelled || o.OptOutNamespaceLabel != "team.example/break-glass=allowed" ||
		o.TLSMinVersion != "1.3" || o.TLSCipherSuites != "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" || !o.EnableHTTP2 ||
		o.MaxObjectBytes != 262144 || o.MaxFindings != 20 || o.MaxConcurrent != 8 || o.QueueWait != 500*time.Millisecond ||
		o.LiveReadQPS != 10 || o.LiveReadBurst != 20 {
		t.Errorf("flags %+v", o)
	}
	if vol := volumeAt(t, pod, c, filepath.Dir(o.ClientCAFile)); vol.Secret == nil || vol.Secret.SecretName != "apiserver-client-ca" {
		t.Errorf("--client-ca-file %s is %+v, want Secret apiserver-client-ca", o.ClientCAFile, vol.VolumeSource)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["MEMORY_LIMIT"]; e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || env["MEMORY_LIMIT_PERCENT"].Value != "80" {
		t.Errorf("MEMORY_LIMIT %+v, MEMORY_LIMIT_PERCENT %+v", e, env["MEMORY_LIMIT_PERCENT"])
	}
	if limit, err := webhook.SoftMemoryLimit("268435456", env["MEMORY_LIMIT_PERCENT"].Value); err != nil || limit != 268435456/100*80 {
		t.Errorf("GOMEMLIMIT %d, %v", limit, err)
	}
	np := r.other["NetworkPolicy/mesh-webhook"]
	if np == nil {
		t.Fatalf("no NetworkPolicy: %v", r.kinds)
	}
	ingress, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if len(ingress) != 3 {
		t.Fatalf("ingress %v: want the webhook port, the probes and /metrics", ingress)
	}
	for i, want := range []string{"https", "health", "metrics"} {
		ports, _, _ := unstructured.NestedSlice(ingress[i].(map[string]any), "ports")
		if len(ports) != 1 || ports[0].(map[string]any)["port"] != want {
			t.Errorf("ingress[%d] ports %v, want %s", i, ports, want)
		}
	}
	if _, ok := mustRender(t, nil).other["NetworkPolicy/mesh-webhook"]; ok {
		t.Error("a NetworkPolicy by default")
	}
}

func TestSnapshots(t *testing.T) {
	for _, s := range snapshots {
		t.Run(s.name, func(t *testing.T) {
			files, err := renderValues(t, s.values)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, s.name+".yaml", manifest(files))
		})
	}
}

func mustRender(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	files, err := renderValues(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, files)
}

// theWebhooks returns the configuration's two entries: CREATE and UPDATE,
// then DELETE.
func theWebhooks(t *testing.T, r *rendered, name string) (admissionregistrationv1.ValidatingWebhook, admissionregistrationv1.ValidatingWebhook) {
	t.Helper()
	vwc := r.vwcs[name]
	if vwc == nil {
		t.Fatalf("no ValidatingWebhookConfiguration %s; rendered %v", name, r.kinds)
	}
	if len(vwc.Webhooks) != 2 || vwc.Webhooks[0].Name != webhook.WebhookName || vwc.Webhooks[1].Name != webhook.DeleteWebhookName {
		t.Fatalf("webhooks %+v, want %s and %s", vwc.Webhooks, webhook.WebhookName, webhook.DeleteWebhookName)
	}
	return vwc.Webhooks[0], vwc.Webhooks[1]
}

// TestDeleteWebhook: DELETE has an entry of its own, with failure policy
// Ignore and the clean-up controllers' deletes skipped by matchConditions.
func TestDeleteWebhook(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   admissionregistrationv1.FailurePolicyType
	}{
		{"default", nil, admissionregistrationv1.Ignore},
		{"deleteFailurePolicy Fail", map[string]any{"deleteFailurePolicy": "Fail"}, admissionregistrationv1.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, del := theWebhooks(t, mustRender(t, tc.values), "mesh-webhook")
			if deref(del.FailurePolicy) != tc.want {
				t.Errorf("DELETE failurePolicy %v, want %v", deref(del.FailurePolicy), tc.want)
			}
			// Istio's kinds, Services, and the Gateway API objects routes
			// refer to (never the routes: deleting one breaks nothing).
			if len(del.Rules) != 3 {
				t.Fatalf("DELETE rules %+v", del.Rules)
			}
			for i, want := range []struct {
				group     string
				resources []string
			}{
				{"networking.istio.io", []string{"virtualservices", "destinationrules", "gateways", "serviceentries"}},
				{"", []string{"services"}},
				{"gateway.networking.k8s.io", []string{"gateways", "referencegrants"}},
			} {
				rule := del.Rules[i]
				if !slices.Equal(rule.APIGroups, []string{want.group}) || !sameSet(rule.Resources, want.resources) || !slices.Equal(ops(rule.Operations), []string{"DELETE"}) {
					t.Errorf("DELETE rule %+v", rule)
				}
			}
			if len(del.MatchConditions) != 1 {
				t.Fatalf("matchConditions %+v", del.MatchConditions)
			}
			expr := del.MatchConditions[0].Expression
			var quoted []string
			for _, u := range webhook.CleanupUsers() {
				quoted = append(quoted, "'"+u+"'")
			}
			if want := "!(request.userInfo.username in [" + strings.Join(quoted, ", ") + "])"; expr != want {
				t.Errorf("matchCondition %q, want %q (webhook.CleanupUsers)", expr, want)
			}
		})
	}
}

func TestWebhookConfiguration(t *testing.T) {
	r := mustRender(t, nil)
	wh, del := theWebhooks(t, r, "mesh-webhook")
	// Ignore until mesh-webhook serves and sets --failure-policy itself.
	if wh.FailurePolicy == nil || *wh.FailurePolicy != admissionregistrationv1.Ignore {
		t.Errorf("failurePolicy %v, want Ignore until mesh-webhook serves", deref(wh.FailurePolicy))
	}
	if o := meshWebhookFlags(t, r.deployments["mesh-webhook"].Spec.Template.Spec.Containers[0]); o.FailurePolicy != "Fail" || o.WebhookConfig != "mesh-webhook" {
		t.Errorf("--failure-policy %q for --webhook-config %q, want Fail for mesh-webhook", o.FailurePolicy, o.WebhookConfig)
	}
	// Both entries agree on everything but rules, policy and conditions.
	same := del.DeepCopy()
	same.Name, same.Rules, same.FailurePolicy, same.MatchConditions = wh.Name, wh.Rules, wh.FailurePolicy, wh.MatchConditions
	if !equality.Semantic.DeepEqual(*same, wh) {
		t.Errorf("the entries differ beyond rules, failurePolicy and matchConditions:\n%+v\n%+v", wh, del)
	}
	if wh.TimeoutSeconds == nil || *wh.TimeoutSeconds != 3 {
		t.Errorf("timeoutSeconds %v, want 3", deref(wh.TimeoutSeconds))
	}
	if wh.MatchPolicy == nil || *wh.MatchPolicy != admissionregistrationv1.Equivalent {
		t.Errorf("matchPolicy %v, want Equivalent", deref(wh.MatchPolicy))
	}
	if wh.SideEffects == nil || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("sideEffects %v, want None", deref(wh.SideEffects))
	}
	if !slices.Equal(wh.AdmissionReviewVersions, []string{"v1"}) {
		t.Errorf("admissionReviewVersions %v", wh.AdmissionReviewVersions)
	}
	svc := wh.ClientConfig.Service
	if svc == nil || svc.Name != "mesh-webhook" || svc.Namespace != releaseNamespace || deref(svc.Path) != webhook.Path || deref(svc.Port) != 443 {
		t.Errorf("clientConfig.service %+v, want mesh-webhook.%s:443%s", svc, releaseNamespace, webhook.Path)
	}
	if len(wh.ClientConfig.CABundle) != 0 || wh.ClientConfig.URL != nil {
		t.Errorf("clientConfig must name the Service only (caBundle is injected): %+v", wh.ClientConfig)
	}
	if len(wh.Rules) != 3 {
		t.Fatalf("rules %+v", wh.Rules)
	}
	// Istio's kinds, the Gateway API routes, and updates of the Gateway
	// API objects routes refer to (not their creation, which breaks
	// nothing).
	for i, want := range []struct {
		group      string
		resources  []string
		operations []string
	}{
		{"networking.istio.io", []string{"virtualservices", "destinationrules", "gateways", "serviceentries"}, []string{"CREATE", "UPDATE"}},
		{"gateway.networking.k8s.io", []string{"httproutes", "grpcroutes"}, []string{"CREATE", "UPDATE"}},
		{"gateway.networking.k8s.io", []string{"gateways", "referencegrants"}, []string{"UPDATE"}},
	} {
		rule := wh.Rules[i]
		if !slices.Equal(rule.APIGroups, []string{want.group}) || !slices.Equal(rule.APIVersions, []string{"*"}) ||
			!sameSet(rule.Resources, want.resources) || !sameSet(ops(rule.Operations), want.operations) {
			t.Errorf("rule %+v", rule)
		}
	}
	if wh.ObjectSelector != nil && len(wh.ObjectSelector.MatchExpressions)+len(wh.ObjectSelector.MatchLabels) > 0 {
		t.Errorf("objectSelector %+v: the break-glass annotation is the handler's to honour (with a warning)", wh.ObjectSelector)
	}
	// Service, port and path agree with the Service and the container.
	s := r.services["mesh-webhook"]
	if s == nil || len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 443 || s.Spec.Ports[0].TargetPort.String() != "https" {
		t.Fatalf("Service %+v", s)
	}
	c := r.deployments["mesh-webhook"].Spec.Template.Spec.Containers[0]
	if p := containerPort(c, "https"); p != 9443 {
		t.Errorf("containerPort https = %d, want 9443", p)
	}
}

func TestNamespaceSelector(t *testing.T) {
	for _, tc := range []struct {
		name     string
		values   map[string]any
		excluded []string
	}{
		{"default", nil, nil},
		{"extra", map[string]any{"failurePolicy": "Ignore", "excludedNamespaces": []any{"legacy", "sandbox"}}, []string{"legacy", "sandbox"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values)
			wh, _ := theWebhooks(t, r, "mesh-webhook")
			sel, err := metav1.LabelSelectorAsSelector(wh.NamespaceSelector)
			if err != nil {
				t.Fatal(err)
			}
			if len(wh.NamespaceSelector.MatchLabels) != 0 {
				t.Errorf("matchLabels %v: only matchExpressions expected", wh.NamespaceSelector.MatchLabels)
			}
			var nameExpr *metav1.LabelSelectorRequirement
			for i, e := range wh.NamespaceSelector.MatchExpressions {
				if e.Key == "kubernetes.io/metadata.name" {
					nameExpr = &wh.NamespaceSelector.MatchExpressions[i]
				}
				if e.Operator != metav1.LabelSelectorOpNotIn {
					t.Errorf("expression %+v: want NotIn", e)
				}
			}
			want := append([]string{"kube-system", "kube-node-lease", releaseNamespace}, tc.excluded...)
			if nameExpr == nil || !sameSet(nameExpr.Values, want) {
				t.Errorf("kubernetes.io/metadata.name NotIn %v, want %v", nameExpr, want)
			}
			ns := func(name string, extra ...string) labels.Set {
				l := labels.Set{"kubernetes.io/metadata.name": name}
				for i := 0; i+1 < len(extra); i += 2 {
					l[extra[i]] = extra[i+1]
				}
				return l
			}
			for _, name := range want {
				if sel.Matches(ns(name)) {
					t.Errorf("namespace %s is intercepted", name)
				}
			}
			if sel.Matches(ns("team", "kubectl-mesh.io/validation", "disabled")) {
				t.Error("a namespace labelled kubectl-mesh.io/validation=disabled is intercepted")
			}
			for _, l := range []labels.Set{ns("default"), ns("team", "kubectl-mesh.io/validation", "enabled"), ns("istio-system")} {
				if !sel.Matches(l) {
					t.Errorf("namespace %v is not intercepted", l)
				}
			}
			fp := admissionregistrationv1.Fail
			if tc.values != nil {
				fp = admissionregistrationv1.Ignore
			}
			if o := meshWebhookFlags(t, r.deployments["mesh-webhook"].Spec.Template.Spec.Containers[0]); o.FailurePolicy != string(fp) {
				t.Errorf("--failure-policy %v, want %v", o.FailurePolicy, fp)
			}
		})
	}
}

// meshWebhookFlags parses the container's arguments with mesh-webhook's own
// flag set, so every flag the chart passes exists and parses.
func meshWebhookFlags(t *testing.T, c corev1.Container) webhook.Options {
	t.Helper()
	var o webhook.Options
	fs := flag.NewFlagSet("mesh-webhook", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	o.BindFlags(fs)
	zo := zap.Options{}
	zo.BindFlags(fs)
	if len(c.Command) != 0 {
		t.Errorf("command %v: the image's entrypoint is mesh-webhook", c.Command)
	}
	if err := fs.Parse(c.Args); err != nil {
		t.Fatalf("mesh-webhook rejects the chart's arguments %v: %v", c.Args, err)
	}
	if fs.NArg() != 0 {
		t.Errorf("stray arguments %v", fs.Args())
	}
	// POD_NAMESPACE comes from the downward API.
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "POD_NAMESPACE" {
			env = &c.Env[i]
		}
	}
	if env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE env %+v, want the downward API's metadata.namespace", env)
	}
	if o.CertNamespace == "" {
		o.CertNamespace = releaseNamespace
	}
	if err := o.Validate(); err != nil {
		t.Errorf("mesh-webhook options: %v", err)
	}
	return o
}

func TestDeployment(t *testing.T) {
	r := mustRender(t, nil)
	d := r.deployments["mesh-webhook"]
	if d == nil {
		t.Fatalf("no Deployment mesh-webhook: %v", r.kinds)
	}
	if deref(d.Spec.Replicas) != 2 {
		t.Errorf("replicas %d, want 2", deref(d.Spec.Replicas))
	}
	pod := d.Spec.Template.Spec
	if !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("the selector does not select the pod template")
	}
	if !labels.SelectorFromSet(r.services["mesh-webhook"].Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("the Service does not select the pods")
	}
	if pod.ServiceAccountName != "mesh-webhook" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName %q by default, want system-cluster-critical", pod.PriorityClassName)
	}
	aa := pod.Affinity.PodAntiAffinity
	if aa == nil || len(aa.PreferredDuringSchedulingIgnoredDuringExecution) != 1 || len(aa.RequiredDuringSchedulingIgnoredDuringExecution) != 0 ||
		aa.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("podAntiAffinity %+v, want preferred on kubernetes.io/hostname", aa)
	} else if term := aa.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm; !labels.SelectorFromSet(term.LabelSelector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Error("anti-affinity does not select the webhook's own pods")
	}
	psc := pod.SecurityContext
	if psc == nil || !deref(psc.RunAsNonRoot) || deref(psc.RunAsUser) != 65532 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !deref(sc.RunAsNonRoot) || deref(sc.RunAsUser) != 65532 || !deref(sc.ReadOnlyRootFilesystem) ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	for res, want := range map[string]string{"requests.cpu": "50m", "requests.memory": "64Mi", "limits.cpu": "500m", "limits.memory": "256Mi"} {
		list := c.Resources.Requests
		if strings.HasPrefix(res, "limits") {
			list = c.Resources.Limits
		}
		q := list[corev1.ResourceName(res[strings.Index(res, ".")+1:])]
		if q.String() != want {
			t.Errorf("resources.%s = %s, want %s", res, q.String(), want)
		}
	}
	if c.Image != "kubectl-mesh/mesh-webhook:0.1.0" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s (%s)", c.Image, c.ImagePullPolicy)
	}
	health := containerPort(c, "health")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "health" {
			t.Errorf("%s probe %+v, want GET %s on the health port", p.name, p.probe, p.path)
		}
	}

	o := meshWebhookFlags(t, c)
	if o.Port != 9443 || o.HealthProbeBindAddress != ":"+itoa(health) || o.MetricsBindAddress != ":"+itoa(containerPort(c, "metrics")) {
		t.Errorf("--port %d, --health-probe-bind-address %s, --metrics-bind-address %s", o.Port, o.HealthProbeBindAddress, o.MetricsBindAddress)
	}
	if o.CertSecret != "mesh-webhook-tls" || o.ServiceDNSName != "mesh-webhook.kubectl-mesh-system.svc" || o.WebhookConfig != "mesh-webhook" {
		t.Errorf("--cert-secret %q, --service-dns-name %q, --webhook-config %q", o.CertSecret, o.ServiceDNSName, o.WebhookConfig)
	}
	if o.CertValidity != 2160*time.Hour || o.CertLookahead != 720*time.Hour || o.CertCheckEvery != 12*time.Hour || o.CAValidity != 87600*time.Hour {
		t.Errorf("certificate timings %v %v %v %v", o.CertValidity, o.CertLookahead, o.CertCheckEvery, o.CAValidity)
	}
	if o.ReviewTimeout != webhook.DefaultReviewTimeout || o.ReviewTimeout >= 3*time.Second {
		t.Errorf("--review-timeout %v, want %v (below timeoutSeconds 3)", o.ReviewTimeout, webhook.DefaultReviewTimeout)
	}
	if o.DisableLiveReads || len(o.PolicyDirs) != 0 {
		t.Errorf("--disable-live-reads %v, --policy %v", o.DisableLiveReads, o.PolicyDirs)
	}
	if _, ok := r.secrets[o.CertSecret]; !ok {
		t.Errorf("no Secret %s for the certificate rotator to fill in", o.CertSecret)
	}
	// mesh-webhook writes the certificate from its Secret into --cert-dir.
	vol := volumeAt(t, pod, c, o.CertDir)
	if vol.EmptyDir == nil {
		t.Errorf("--cert-dir %s is %+v, want an emptyDir", o.CertDir, vol.VolumeSource)
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == o.CertDir && m.ReadOnly {
			t.Errorf("--cert-dir %s is mounted read-only", o.CertDir)
		}
	}
	if tmp := volumeAt(t, pod, c, "/tmp"); tmp.EmptyDir == nil {
		t.Errorf("/tmp is %+v, want an emptyDir", tmp.VolumeSource)
	}
	cfgVol := volumeAt(t, pod, c, filepath.Dir(o.ConfigFile))
	if cfgVol.ConfigMap == nil {
		t.Fatalf("--config %s is not on a ConfigMap", o.ConfigFile)
	}
	cm := r.configMaps[cfgVol.ConfigMap.Name]
	if cm == nil {
		t.Fatalf("no ConfigMap %s", cfgVol.ConfigMap.Name)
	}
	s, err := policies.ParseConfig(o.ConfigFile, []byte(cm.Data[filepath.Base(o.ConfigFile)]))
	if err != nil {
		t.Fatalf("mesh-webhook rejects the rendered config: %v", err)
	}
	if s.ClusterDomain != "cluster.local" || s.RootNamespace != "istio-system" || len(s.Rules) != 0 {
		t.Errorf("config %+v", s)
	}
	if _, ok := r.pdbs["mesh-webhook"]; !ok {
		t.Error("no PodDisruptionBudget with 2 replicas")
	} else if r.pdbs["mesh-webhook"].Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v", r.pdbs["mesh-webhook"].Spec.MinAvailable)
	}
}

func TestDeploymentOptions(t *testing.T) {
	r := mustRender(t, map[string]any{
		"replicas": 1, "priorityClassName": "system-cluster-critical", "podAntiAffinity": "required",
		"disableLiveReads": true, "reviewTimeout": "2s", "logLevel": "debug",
		"image": map[string]any{"tag": "v1.2.3", "pullPolicy": "Always"},
	})
	if len(r.pdbs) != 0 {
		t.Error("PodDisruptionBudget with 1 replica would block node drains")
	}
	d := r.deployments["mesh-webhook"]
	pod := d.Spec.Template.Spec
	if deref(d.Spec.Replicas) != 1 || pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("replicas %d, priorityClassName %q", deref(d.Spec.Replicas), pod.PriorityClassName)
	}
	if aa := pod.Affinity.PodAntiAffinity; len(aa.RequiredDuringSchedulingIgnoredDuringExecution) != 1 || len(aa.PreferredDuringSchedulingIgnoredDuringExecution) != 0 {
		t.Errorf("podAntiAffinity %+v, want required", aa)
	}
	c := pod.Containers[0]
	if c.Image != "kubectl-mesh/mesh-webhook:v1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %s %s", c.Image, c.ImagePullPolicy)
	}
	o := meshWebhookFlags(t, c)
	if !o.DisableLiveReads || o.ReviewTimeout != 2*time.Second {
		t.Errorf("--disable-live-reads %v, --review-timeout %v", o.DisableLiveReads, o.ReviewTimeout)
	}
	if !slices.Contains(c.Args, "--zap-log-level=debug") {
		t.Errorf("args %v lack --zap-log-level=debug", c.Args)
	}

	r = mustRender(t, map[string]any{"podAntiAffinity": "none"})
	if a := r.deployments["mesh-webhook"].Spec.Template.Spec.Affinity; a != nil {
		t.Errorf("affinity %+v with podAntiAffinity none", a)
	}
}

func TestCertManager(t *testing.T) {
	r := mustRender(t, map[string]any{"certificates": map[string]any{"mode": "cert-manager"}})
	vwc := r.vwcs["mesh-webhook"]
	if got := vwc.Annotations["cert-manager.io/inject-ca-from"]; got != releaseNamespace+"/mesh-webhook-serving" {
		t.Errorf("cert-manager.io/inject-ca-from = %q", got)
	}
	cert := r.other["Certificate/mesh-webhook-serving"]
	if cert == nil {
		t.Fatalf("no Certificate: %v", r.kinds)
	}
	if cert.GetAPIVersion() != "cert-manager.io/v1" {
		t.Errorf("Certificate apiVersion %s", cert.GetAPIVersion())
	}
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if !slices.Contains(dnsNames, "mesh-webhook.kubectl-mesh-system.svc") || !slices.Contains(dnsNames, "mesh-webhook.kubectl-mesh-system.svc.cluster.local") {
		t.Errorf("dnsNames %v", dnsNames)
	}
	issuer, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "issuerRef")
	if issuer["name"] != "mesh-webhook-selfsigned" || issuer["kind"] != "Issuer" {
		t.Errorf("issuerRef %v", issuer)
	}
	is := r.other["Issuer/mesh-webhook-selfsigned"]
	if is == nil {
		t.Fatalf("no self-signed Issuer: %v", r.kinds)
	}
	if _, ok, _ := unstructured.NestedMap(is.Object, "spec", "selfSigned"); !ok {
		t.Errorf("Issuer %v is not self-signed", is.Object["spec"])
	}
	pod := r.deployments["mesh-webhook"].Spec.Template.Spec
	c := pod.Containers[0]
	o := meshWebhookFlags(t, c)
	if o.CertSecret != "" || o.ServiceDNSName != "" {
		t.Errorf("--cert-secret %q --service-dns-name %q with cert-manager", o.CertSecret, o.ServiceDNSName)
	}
	if vol := volumeAt(t, pod, c, o.CertDir); vol.Secret == nil || vol.Secret.SecretName != secretName {
		t.Errorf("--cert-dir %s is %+v, want Secret %s", o.CertDir, vol.VolumeSource, secretName)
	}
	if len(r.secrets) != 0 || len(r.roles) != 0 || len(r.rbs) != 0 {
		t.Errorf("Secret, Role or RoleBinding rendered with cert-manager: %v", r.kinds)
	}
	// No caBundle injection, no rotator's informer: only its own webhook
	// configuration, for the failure policy.
	for _, rule := range r.clusterRoles["mesh-webhook"].Rules {
		if slices.Contains(rule.APIGroups, "admissionregistration.k8s.io") && !slices.Equal(rule.ResourceNames, []string{"mesh-webhook"}) {
			t.Errorf("rule %+v with cert-manager", rule)
		}
	}

	r = mustRender(t, map[string]any{"certificates": map[string]any{"mode": "cert-manager",
		"certManager": map[string]any{"issuerRef": map[string]any{"name": "corp-ca", "kind": "ClusterIssuer"}}}})
	if _, ok := r.other["Issuer/mesh-webhook-selfsigned"]; ok {
		t.Error("a self-signed Issuer is created although issuerRef names one")
	}
	issuer, _, _ = unstructured.NestedStringMap(r.other["Certificate/mesh-webhook-serving"].Object, "spec", "issuerRef")
	if issuer["name"] != "corp-ca" || issuer["kind"] != "ClusterIssuer" || issuer["group"] != "cert-manager.io" {
		t.Errorf("issuerRef %v", issuer)
	}
}

func TestRBAC(t *testing.T) {
	r := mustRender(t, nil)
	cr := r.clusterRoles["mesh-webhook"]
	if cr == nil {
		t.Fatalf("no ClusterRole: %v", r.kinds)
	}
	type grant struct{ group, resource, verb, name string }
	grants := func(rules []rbacv1.PolicyRule) []grant {
		var out []grant
		for _, rule := range rules {
			names := rule.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						for _, n := range names {
							out = append(out, grant{g, res, v, n})
						}
					}
				}
			}
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			return a.group+a.resource+a.verb+a.name < b.group+b.resource+b.verb+b.name
		})
		return out
	}
	var want []grant
	for _, v := range []string{"get", "list", "watch"} {
		want = append(want, grant{"", "services", v, ""}, grant{"", "namespaces", v, ""})
		for _, res := range []string{"serviceentries", "destinationrules", "gateways", "virtualservices"} {
			want = append(want, grant{"networking.istio.io", res, v, ""})
		}
		for _, res := range []string{"gateways", "referencegrants", "httproutes", "grpcroutes"} {
			want = append(want, grant{"gateway.networking.k8s.io", res, v, ""})
		}
	}
	for _, v := range []string{"get", "update", "patch"} {
		want = append(want, grant{"admissionregistration.k8s.io", "validatingwebhookconfigurations", v, "mesh-webhook"})
	}
	// The certificate rotator's informer lists and watches them.
	for _, v := range []string{"list", "watch"} {
		want = append(want, grant{"admissionregistration.k8s.io", "validatingwebhookconfigurations", v, ""})
	}
	sort.Slice(want, func(i, j int) bool {
		a, b := want[i], want[j]
		return a.group+a.resource+a.verb+a.name < b.group+b.resource+b.verb+b.name
	})
	if got := grants(cr.Rules); !slices.Equal(got, want) {
		t.Errorf("ClusterRole grants\n got %v\nwant %v", got, want)
	}
	crb := r.crbs["mesh-webhook"]
	if crb == nil || crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != cr.Name || len(crb.Subjects) != 1 ||
		crb.Subjects[0].Kind != "ServiceAccount" || crb.Subjects[0].Name != "mesh-webhook" || crb.Subjects[0].Namespace != releaseNamespace {
		t.Errorf("ClusterRoleBinding %+v", crb)
	}
	role := r.roles["mesh-webhook-certs"]
	if role == nil {
		t.Fatalf("no Role for the certificate Secret: %v", r.kinds)
	}
	verbs := map[string]bool{}
	for _, g := range grants(role.Rules) {
		if g.group != "" || g.resource != "secrets" {
			t.Errorf("Role grants %+v", g)
		}
		if g.name != "" && g.name != "mesh-webhook-tls" {
			t.Errorf("Role names Secret %q", g.name)
		}
		verbs[g.verb] = true
	}
	for _, v := range []string{"get", "list", "watch", "update", "create"} {
		if !verbs[v] {
			t.Errorf("Role lacks %s on secrets", v)
		}
	}
	if len(verbs) != 5 {
		t.Errorf("Role verbs %v", verbs)
	}
	rb := r.rbs["mesh-webhook-certs"]
	if rb == nil || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || rb.Subjects[0].Name != "mesh-webhook" {
		t.Errorf("RoleBinding %+v", rb)
	}

	// The configuration's name follows the value, and so does the grant.
	r = mustRender(t, map[string]any{"webhookConfigurationName": "mesh-webhook-prod"})
	if _, ok := r.vwcs["mesh-webhook-prod"]; !ok {
		t.Errorf("no ValidatingWebhookConfiguration mesh-webhook-prod: %v", r.kinds)
	}
	found := false
	for _, g := range grants(r.clusterRoles["mesh-webhook"].Rules) {
		if g.verb == "update" {
			found = g.name == "mesh-webhook-prod"
		}
	}
	if !found {
		t.Error("update on validatingwebhookconfigurations is not restricted to mesh-webhook-prod")
	}
	o := meshWebhookFlags(t, r.deployments["mesh-webhook"].Spec.Template.Spec.Containers[0])
	if o.WebhookConfig != "mesh-webhook-prod" {
		t.Errorf("--webhook-config %q", o.WebhookConfig)
	}
}

func TestExtraPolicies(t *testing.T) {
	r := mustRender(t, snapshots[3].values)
	pod := r.deployments["mesh-webhook"].Spec.Template.Spec
	c := pod.Containers[0]
	o := meshWebhookFlags(t, c)
	if len(o.PolicyDirs) != 1 {
		t.Fatalf("--policy %v, want one directory", o.PolicyDirs)
	}
	vol := volumeAt(t, pod, c, o.PolicyDirs[0])
	if vol.ConfigMap == nil {
		t.Fatalf("--policy %s is not a ConfigMap", o.PolicyDirs[0])
	}
	cm := r.configMaps[vol.ConfigMap.Name]
	if cm == nil || cm.Data["acme.rego"] != acmePolicy {
		t.Fatalf("policies ConfigMap %+v does not hold acme.rego verbatim", cm)
	}
	if _, ok := r.deployments["mesh-webhook"].Spec.Template.Annotations["checksum/policies"]; !ok {
		t.Error("pods do not roll when the policies change")
	}
	// What the pod would see: the same engine mesh-webhook builds.
	dir := t.TempDir()
	for name, src := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgVol := volumeAt(t, pod, c, filepath.Dir(o.ConfigFile))
	s, err := policies.ParseConfig(o.ConfigFile, []byte(r.configMaps[cfgVol.ConfigMap.Name].Data[filepath.Base(o.ConfigFile)]))
	if err != nil {
		t.Fatal(err)
	}
	if s.ClusterDomain != "corp.example" || s.Rules["MESH0104"] != policies.SeverityWarning || s.Rules["MESH0302"] != policies.SeverityOff {
		t.Errorf("config %+v", s)
	}
	e, err := policies.NewEngine(context.Background(), policies.Options{Settings: s, PolicyDirs: []string{dir}})
	if err != nil {
		t.Fatalf("mesh-webhook would not start with the rendered policies: %v", err)
	}
	if !slices.Contains(e.Packages(), "data.acme.timeouts") {
		t.Errorf("packages %v lack acme.timeouts", e.Packages())
	}
	// Certificates SANs use the cluster domain.
	r = mustRender(t, map[string]any{"certificates": map[string]any{"mode": "cert-manager"}, "policy": map[string]any{"clusterDomain": "corp.example"}})
	dnsNames, _, _ := unstructured.NestedStringSlice(r.other["Certificate/mesh-webhook-serving"].Object, "spec", "dnsNames")
	if !slices.Contains(dnsNames, "mesh-webhook.kubectl-mesh-system.svc.corp.example") {
		t.Errorf("dnsNames %v", dnsNames)
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"failurePolicy Maybe", map[string]any{"failurePolicy": "Maybe"}, "failurePolicy"},
		{"replicas two", map[string]any{"replicas": "two"}, "replicas"},
		{"replicas zero", map[string]any{"replicas": 0}, "replicas"},
		{"unknown top-level key", map[string]any{"replicaCount": 3}, "replicaCount"},
		{"certificate mode", map[string]any{"certificates": map[string]any{"mode": "vault"}}, "mode"},
		{"issuer kind", map[string]any{"certificates": map[string]any{"certManager": map[string]any{"issuerRef": map[string]any{"kind": "Vault"}}}}, "kind"},
		{"severity", map[string]any{"policy": map[string]any{"rules": map[string]any{"MESH0104": "fatal"}}}, "MESH0104"},
		{"rule code", map[string]any{"policy": map[string]any{"rules": map[string]any{"weights": "off"}}}, "weights"},
		{"policy file name", map[string]any{"policy": map[string]any{"extraPolicies": map[string]any{"acme.txt": "package acme"}}}, "acme.txt"},
		{"duration", map[string]any{"reviewTimeout": "soon"}, "reviewTimeout"},
		{"excluded namespace", map[string]any{"excludedNamespaces": []any{"Not_A_Namespace"}}, "excludedNamespaces"},
		{"anti-affinity", map[string]any{"podAntiAffinity": "sometimes"}, "podAntiAffinity"},
		{"pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"port", map[string]any{"ports": map[string]any{"webhook": 70000}}, "webhook"},
		{"disableLiveReads string", map[string]any{"disableLiveReads": "yes"}, "disableLiveReads"},
		{"unknown nested key", map[string]any{"policy": map[string]any{"clusterDomian": "x"}}, "clusterDomian"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderValues(t, tc.values)
			if err == nil {
				t.Fatalf("values %v accepted", tc.values)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q as a schema violation", err, tc.want)
			}
		})
	}
	// And the documented values pass.
	for _, s := range snapshots {
		if _, err := renderValues(t, s.values); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
}

// Every key of values.yaml is described by the schema.
func TestSchemaCoversValues(t *testing.T) {
	c := loadChart(t)
	var schema map[string]any
	if err := yaml.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	if schema["$schema"] != "http://json-schema.org/draft-07/schema#" || schema["additionalProperties"] != false {
		t.Errorf("schema header: $schema %v, additionalProperties %v", schema["$schema"], schema["additionalProperties"])
	}
	var walk func(path string, vals map[string]any, s map[string]any)
	walk = func(path string, vals map[string]any, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range vals {
			p, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("value %s%s has no schema", path, k)
				continue
			}
			if p["type"] == nil && p["anyOf"] == nil {
				t.Errorf("value %s%s has no type in the schema", path, k)
			}
			if sub, ok := v.(map[string]any); ok && p["properties"] != nil {
				walk(path+k+".", sub, p)
			}
		}
	}
	walk("", c.Values, schema)
}

func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snapshots {
		t.Run(s.name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(MeshWebhookName, s.values, releaseNamespace, kv)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				} else {
					t.Logf("lint: %s", m)
				}
			}
		})
	}
}

// The embedded chart is the chart folder, file for file.
func TestEmbeddedMatchesFolder(t *testing.T) {
	dir, err := loader.LoadDir(MeshWebhookName)
	if err != nil {
		t.Fatal(err)
	}
	emb := loadChart(t)
	names := func(c *chart.Chart) []string {
		var out []string
		for _, f := range c.Raw {
			out = append(out, f.Name)
		}
		sort.Strings(out)
		return out
	}
	if a, b := names(emb), names(dir); !slices.Equal(a, b) {
		t.Errorf("embedded files %v, folder %v", a, b)
	}
	if emb.Metadata.Name != "mesh-webhook" || emb.Metadata.Version != "0.1.0" || emb.Metadata.APIVersion != chart.APIVersionV2 || emb.Metadata.KubeVersion != ">=1.27.0-0" {
		t.Errorf("metadata %+v", emb.Metadata)
	}
	if err := emb.Validate(); err != nil {
		t.Error(err)
	}
}

func TestNotes(t *testing.T) {
	files, err := renderValues(t, map[string]any{"excludedNamespaces": []any{"legacy"}})
	if err != nil {
		t.Fatal(err)
	}
	notes := decode(t, files).notes
	for _, want := range []string{"kube-system, kube-node-lease, kubectl-mesh-system, legacy", "kubectl mesh webhook status", "CREATE and UPDATE Fail", "DELETE Ignore"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// volumeAt returns the pod volume the container mounts at path.
func volumeAt(t *testing.T, pod corev1.PodSpec, c corev1.Container, path string) corev1.Volume {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			for _, v := range pod.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
			t.Fatalf("volume %s of mount %s missing", m.Name, path)
		}
	}
	t.Fatalf("nothing mounted at %s (mounts %+v)", path, c.VolumeMounts)
	return corev1.Volume{}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func ops(in []admissionregistrationv1.OperationType) []string {
	out := make([]string, len(in))
	for i, o := range in {
		out[i] = string(o)
	}
	return out
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

// TestDocsDescribeEveryValue: docs/webhook.md names every value of
// values.yaml (or, for the fields of an object such as issuerRef, the
// object).
func TestDocsDescribeEveryValue(t *testing.T) {
	doc, err := os.ReadFile("../docs/webhook.md")
	if err != nil {
		t.Fatal(err)
	}
	// Maps whose keys are the user's (labels, rules, file names).
	freeForm := map[string]bool{"resources": true, "policy.rules": true, "policy.extraPolicies": true, "serviceAccount.annotations": true,
		"nodeSelector": true, "podAnnotations": true, "podLabels": true}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !freeForm[path] {
				walk(path+".", sub)
				continue
			}
			parent := strings.TrimSuffix(prefix, ".")
			if !strings.Contains(string(doc), "`"+path+"`") && (parent == "" || !strings.Contains(string(doc), "`"+parent+"`")) {
				t.Errorf("docs/webhook.md does not describe the value %s", path)
			}
		}
	}
	walk("", loadChart(t).Values)
}
