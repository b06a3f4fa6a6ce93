package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// testKubeconfig writes a kubeconfig with two contexts on two clusters;
// the current one, "dev", has namespace ctx-ns.
func testKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	const config = `apiVersion: v1
kind: Config
clusters:
- name: dev-cluster
  cluster: {server: "https://127.0.0.1:6443"}
- name: prod-cluster
  cluster: {server: "https://127.0.0.2:6443"}
users:
- name: dev-user
  user: {token: dev}
- name: prod-user
  user: {token: prod}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: ctx-ns}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
current-context: dev
`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCompleter completes from fake clients with kubectl's flags set as
// args would set them.
func testCompleter(t *testing.T, kube kubernetes.Interface, dyn dynamic.Interface, args ...string) *completer {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	fs := (&cobra.Command{}).Flags()
	flags.AddFlags(fs)
	if err := fs.Parse(append([]string{"--kubeconfig", testKubeconfig(t)}, args...)); err != nil {
		t.Fatal(err)
	}
	return newCompleter(&commandEnv{flags: flags, newClients: func() (kubernetes.Interface, dynamic.Interface, error) { return kube, dyn, nil }})
}

func services(names ...string) []runtime.Object {
	var out []runtime.Object
	for _, n := range names {
		ns, name, _ := strings.Cut(n, "/")
		out = append(out, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
	return out
}

func TestCompleteServices(t *testing.T) {
	kube := fake.NewClientset(services("ctx-ns/reviews", "ctx-ns/ratings", "ctx-ns/productpage", "team/reviews-canary", "team/details")...)
	for _, tc := range []struct {
		name       string
		flags      []string
		toComplete string
		want       []string
	}{
		{"the context's namespace", nil, "", []string{"productpage", "ratings", "reviews"}},
		{"a prefix", nil, "r", []string{"ratings", "reviews"}},
		{"-n", []string{"-n", "team"}, "", []string{"details", "reviews-canary"}},
		{"--namespace and a prefix", []string{"--namespace=team", "--context=prod"}, "rev", []string{"reviews-canary"}},
		{"--context without a namespace", []string{"--context", "prod"}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCompleter(t, kube, nil, tc.flags...)
			got, directive := c.services(&cobra.Command{}, nil, tc.toComplete)
			if !slices.Equal(got, tc.want) || directive != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("got %q, %v; want %q, NoFileComp", got, directive, tc.want)
			}
		})
	}
}

func TestCompleteNamespaces(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bookinfo"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bank"}},
	)
	c := testCompleter(t, kube, nil)
	if got, _ := c.namespaces(nil, nil, ""); !slices.Equal(got, []string{"bank", "bookinfo", "default", "istio-system"}) {
		t.Errorf("namespaces: %q", got)
	}
	if got, _ := c.namespaces(nil, nil, "b"); !slices.Equal(got, []string{"bank", "bookinfo"}) {
		t.Errorf("namespaces b: %q", got)
	}
}

// A cluster that cannot be reached or refuses offers nothing, and says
// nothing: the shell is waiting.
func TestCompletionWithoutCluster(t *testing.T) {
	denied := fake.NewClientset()
	denied.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden")
	})
	c := testCompleter(t, denied, nil)
	for name, fn := range map[string]cobra.CompletionFunc{"services": c.services, "namespaces": c.namespaces} {
		if got, directive := fn(nil, nil, ""); got != nil || directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("%s on a refusing cluster: %q, %v", name, got, directive)
		}
	}
	c.env.newClients = func() (kubernetes.Interface, dynamic.Interface, error) { return nil, nil, errors.New("no kubeconfig") }
	for name, fn := range map[string]cobra.CompletionFunc{"services": c.services, "namespaces": c.namespaces, "subsets": c.subsets(0)} {
		if got, directive := fn(nil, []string{"reviews"}, ""); got != nil || directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("%s without a client: %q, %v", name, got, directive)
		}
	}
}

var drGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}

func destinationRule(ns, name, host string, exportTo []any, subsets ...string) *unstructured.Unstructured {
	var ss []any
	for _, s := range subsets {
		ss = append(ss, map[string]any{"name": s, "labels": map[string]any{"version": s}})
	}
	spec := map[string]any{"host": host, "subsets": ss}
	if exportTo != nil {
		spec["exportTo"] = exportTo
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     spec,
	}}
}

func TestCompleteSubsets(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{drGVR: "DestinationRuleList"},
		destinationRule("ctx-ns", "reviews", "reviews", nil, "v1", "v2"),
		destinationRule("ctx-ns", "ratings", "ratings", nil, "v1", "v9"),
		// The root namespace: v3 visible everywhere, v4 only in istio-system.
		destinationRule("istio-system", "reviews-v3", "reviews.ctx-ns.svc.cluster.local", []any{"*"}, "v3", "v1"),
		destinationRule("istio-system", "reviews-private", "reviews.ctx-ns.svc.cluster.local", []any{"."}, "v4"),
		// The Service's namespace, for a client elsewhere.
		destinationRule("ctx-ns", "wide", "*.ctx-ns.svc.cluster.local", nil, "canary"),
		// Another namespace Istio does not look in for ctx-ns.
		destinationRule("team", "reviews", "reviews.ctx-ns.svc.cluster.local", nil, "team-only"),
		destinationRule("team", "details", "details", nil, "blue", "green"),
	)
	for _, tc := range []struct {
		name       string
		flags      []string
		args       []string
		toComplete string
		want       []string
	}{
		{"own namespace, root namespace, wildcard host", nil, []string{"reviews"}, "", []string{"canary", "v1", "v2", "v3"}},
		{"prefix", nil, []string{"reviews"}, "v", []string{"v1", "v2", "v3"}},
		{"other service", nil, []string{"ratings"}, "", []string{"canary", "v1", "v9"}},
		{"-n", []string{"-n", "team"}, []string{"details"}, "", []string{"blue", "green"}},
		{"a host from another namespace", []string{"-n", "team"}, []string{"reviews.ctx-ns.svc.cluster.local"}, "", []string{"canary", "team-only", "v1", "v2", "v3"}},
		{"no DestinationRule", nil, []string{"productpage"}, "", []string{"canary"}},
		{"service argument not typed yet", nil, nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCompleter(t, nil, dyn, tc.flags...)
			got, directive := c.subsets(0)(nil, tc.args, tc.toComplete)
			var names []string
			for _, g := range got {
				name, desc, _ := strings.Cut(g, "\t")
				if !strings.HasPrefix(desc, "DestinationRule ") {
					t.Errorf("%q: description %q", name, desc)
				}
				names = append(names, name)
			}
			if !slices.Equal(names, tc.want) || directive != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("got %q, %v; want %q", names, directive, tc.want)
			}
		})
	}
	// The first rule Istio would use names the subset.
	subsets, err := serviceSubsets(t.Context(), dyn, "ctx-ns", "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(subsets, func(s subsetRef) bool { return s.name == "v1" }); i < 0 || subsets[i].rule != "ctx-ns/reviews" {
		t.Errorf("v1 from %+v", subsets)
	}
}

// A cluster without Istio's CRDs (every version answers NotFound) has no
// subsets, and that is no error.
func TestCompleteSubsetsWithoutIstio(t *testing.T) {
	kinds := map[schema.GroupVersionResource]string{}
	for _, v := range destinationRuleVersions {
		kinds[drGVR.GroupResource().WithVersion(v)] = "DestinationRuleList"
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds)
	var tried []string
	dyn.PrependReactor("list", "destinationrules", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tried = append(tried, a.GetResource().Version)
		return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), "")
	})
	subsets, err := serviceSubsets(t.Context(), dyn, "default", "reviews")
	if err != nil || len(subsets) != 0 {
		t.Errorf("without Istio: %v, %v", subsets, err)
	}
	if want := []string{"v1", "v1beta1", "v1alpha3", "v1", "v1beta1", "v1alpha3"}; !slices.Equal(tried, want) {
		t.Errorf("versions tried %q, want %q (default, then istio-system)", tried, want)
	}
}

func TestCompleteKubeconfigNames(t *testing.T) {
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
	config := testKubeconfig(t)
	for flag, want := range map[string][]string{
		"context": {"dev", "prod"}, "cluster": {"dev-cluster", "prod-cluster"}, "user": {"dev-user", "prod-user"},
	} {
		out := completeLine(t, "--kubeconfig", config, "version", "--"+flag, "")
		if got := completionChoices(out); !slices.Equal(got, want) {
			t.Errorf("--%s: %q, want %q", flag, got, want)
		}
	}
	if _, ok := root.GetFlagCompletionFunc("namespace"); !ok {
		t.Error("--namespace has no completion")
	}
	// KUBECONFIG is read when --kubeconfig is not given.
	t.Setenv("KUBECONFIG", config)
	if got := completionChoices(completeLine(t, "inject", "enable", "--context", "p")); !slices.Equal(got, []string{"prod"}) {
		t.Errorf("--context p with KUBECONFIG: %q", got)
	}
}

// completeLine runs `kubectl-mesh __complete args...` as the shell would.
func completeLine(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	streams := genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &bytes.Buffer{}}
	root := NewRootCommand(streams, "kubectl-mesh")
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	return out.String()
}

// completionChoices drops the descriptions and the directive line.
func completionChoices(out string) []string {
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, ":") || line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, "\t")
		names = append(names, name)
	}
	return names
}

func TestCompleteArgs(t *testing.T) {
	first := cobra.FixedCompletions([]cobra.Completion{"enable", "disable"}, cobra.ShellCompDirectiveNoFileComp)
	second := cobra.FixedCompletions([]cobra.Completion{"default"}, cobra.ShellCompDirectiveNoFileComp)
	fn := completeArgs(first, second)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"enable", "disable"}},
		{[]string{"enable"}, []string{"default"}},
		{[]string{"enable", "default"}, nil},
	} {
		if got, _ := fn(nil, tc.args, ""); !slices.Equal(got, tc.want) {
			t.Errorf("args %q: %q, want %q", tc.args, got, tc.want)
		}
	}
	// inject enable|disable NAMESPACE offers its verbs first.
	if got := completionChoices(completeLine(t, "inject", "")); !slices.Equal(got, []string{"enable", "disable"}) {
		t.Errorf("inject: %q", got)
	}
}

func TestCompletionCommand(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_kubectl-mesh",
		"zsh":        "#compdef kubectl-mesh",
		"fish":       "complete -c kubectl-mesh",
		"powershell": "Register-ArgumentCompleter -CommandName 'kubectl-mesh'",
	} {
		for _, extra := range [][]string{nil, {"--no-descriptions"}} {
			var out, errOut bytes.Buffer
			root := NewRootCommand(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}, "kubectl-mesh")
			root.SetArgs(append([]string{"completion", shell}, extra...))
			if err := root.Execute(); err != nil {
				t.Fatalf("completion %s %v: %v", shell, extra, err)
			}
			if !strings.Contains(out.String(), marker) {
				t.Errorf("completion %s %v lacks %q:\n%.300s", shell, extra, marker, out.String())
			}
		}
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
		root.SetArgs(args)
		if err := root.Execute(); ExitCode(err) != ExitUsage {
			t.Errorf("%q: exit %d (%v), want %d", args, ExitCode(err), err, ExitUsage)
		}
	}
	if got := completionChoices(completeLine(t, "completion", "")); !slices.Equal(got, completionShells) {
		t.Errorf("completion shells: %q", got)
	}
}

// The commands that name a Service complete it, and subsets and
// namespaces where their flags take them: each command asks a small API
// server on loopback, as it would ask the cluster of the kubeconfig.
func TestCommandsCompleteFromCluster(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces/shop/services":
			_, _ = io.WriteString(w, `{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[
				{"metadata":{"name":"reviews","namespace":"shop"}},{"metadata":{"name":"ratings","namespace":"shop"}}]}`)
		case "/api/v1/namespaces":
			_, _ = io.WriteString(w, `{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[
				{"metadata":{"name":"shop"}},{"metadata":{"name":"staging"}}]}`)
		case "/apis/networking.istio.io/v1/namespaces/shop/destinationrules":
			_, _ = io.WriteString(w, `{"kind":"DestinationRuleList","apiVersion":"networking.istio.io/v1","metadata":{},"items":[
				{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews","namespace":"shop"},
				 "spec":{"host":"reviews","subsets":[{"name":"v1"},{"name":"v2"}]}}]}`)
		case "/apis/networking.istio.io/v1/namespaces/istio-system/destinationrules":
			_, _ = io.WriteString(w, `{"kind":"DestinationRuleList","apiVersion":"networking.istio.io/v1","metadata":{},"items":[]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	config := filepath.Join(t.TempDir(), "config")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q}}]
users: [{name: local, user: {token: t}}]
contexts: [{name: local, context: {cluster: local, user: local, namespace: shop}}]
current-context: local
`, api.URL)
	if err := os.WriteFile(config, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	services, subsets, namespaces := []string{"ratings", "reviews"}, []string{"v1", "v2"}, []string{"shop", "staging"}
	for _, tc := range []struct {
		line []string
		want []string
	}{
		{[]string{"canary", "set", ""}, services},
		{[]string{"canary", "set", "reviews", ""}, nil},
		{[]string{"canary", "step", "rev"}, []string{"reviews"}},
		{[]string{"canary", "step", "reviews", "--to", ""}, subsets},
		{[]string{"canary", "promote", "reviews", "--to", "v"}, subsets},
		{[]string{"canary", "rollback", ""}, services},
		{[]string{"canary", "status", ""}, services},
		{[]string{"canary", "verify", ""}, services},
		{[]string{"canary", "verify", "reviews", "--namespace", ""}, namespaces},
		{[]string{"resilience", "circuit-breaker", ""}, services},
		{[]string{"resilience", "timeout", ""}, services},
		{[]string{"resilience", "timeout", "reviews", ""}, nil},
		{[]string{"resilience", "retry", "r"}, services},
		{[]string{"resilience", "fault", ""}, services},
		{[]string{"resilience", "clear", ""}, services},
		{[]string{"load", "http://reviews:9080/", "--namespace", "s"}, namespaces},
	} {
		got := completionChoices(completeLine(t, append([]string{"--kubeconfig", config}, tc.line...)...))
		if !slices.Equal(got, tc.want) {
			t.Errorf("kubectl mesh %s<TAB>: %q, want %q", strings.Join(tc.line, " "), got, tc.want)
		}
	}
}

// Every command with --api offers its two values.
func TestCompleteAPIFlag(t *testing.T) {
	for _, args := range [][]string{
		{"bookinfo", "expose", "--api", ""},
		{"bookinfo", "url", "--api", ""},
		{"canary", "set", "reviews", "v1=90,v2=10", "--api", ""},
		{"canary", "status", "reviews", "--api", ""},
		{"canary", "verify", "reviews", "--api", ""},
		{"ingress", "url", "--api", ""},
		{"resilience", "timeout", "reviews", "2s", "--api", ""},
	} {
		if got := completionChoices(completeLine(t, args...)); !slices.Equal(got, []string{"istio", "gateway"}) {
			t.Errorf("%q: %q, want istio and gateway", args, got)
		}
	}
}
