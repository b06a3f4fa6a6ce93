// Package helmrelease is the Helm SDK plumbing every kubectl-mesh command
// that manages a Helm release shares (`kubectl mesh webhook`, `kubectl mesh
// install`): the action configuration on kubectl's flags with releases
// stored as Secrets, -f/--set values as helm reads them, install-or-upgrade,
// rendering without a cluster, and the rendered manifest as objects.
package helmrelease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"helm.sh/helm/v3/pkg/strvals"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

const (
	// Driver stores releases as Secrets in the release namespace, as the
	// helm CLI does by default.
	Driver = "secret"
	// DryRunKubeVersion is the Kubernetes version `--dry-run=client`
	// renders for.
	DryRunKubeVersion = "v1.37.2"
	// FieldManager is kubectl-mesh's server-side apply field manager.
	FieldManager = "kubectl-mesh"
	// maxHistory bounds the revisions kept per release.
	maxHistory = 10
)

// Config is the Helm action configuration of a release namespace on
// kubectl's flags, storing releases in Secrets. Objects without a
// namespace go to the release namespace, whatever -n says (it names the
// namespace of other commands). An empty namespace reads releases of
// every namespace (for listing).
func Config(flags genericclioptions.RESTClientGetter, namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, Driver, func(string, ...any) {}); err != nil {
		return nil, err
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok && namespace != "" {
		kc.Namespace = namespace
	}
	return cfg, nil
}

// MemoryConfig is a configuration with no cluster behind it: releases are
// kept in memory and objects are printed to out, never applied. It serves
// client-only rendering, and tests.
func MemoryConfig(namespace string, out io.Writer) *action.Configuration {
	mem := driver.NewMemory()
	mem.SetNamespace(namespace)
	return &action.Configuration{
		Releases:     storage.Init(mem),
		KubeClient:   &kubefake.PrintingKubeClient{Out: out},
		Capabilities: DryRunCapabilities(),
		Log:          func(string, ...any) {},
	}
}

// DryRunCapabilities are the cluster capabilities rendering without a
// cluster assumes: Kubernetes DryRunKubeVersion and Helm's default APIs.
func DryRunCapabilities() *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(DryRunKubeVersion)
	if err != nil {
		panic(err) // a constant that does not parse is a programming error
	}
	caps.KubeVersion = *kv
	return caps
}

// ReadValues merges -f files in order ("-" reads stdin), then each --set,
// as helm does. Every error is about the input (exit 2 for the caller).
func ReadValues(stdin io.Reader, files, sets []string) (map[string]any, error) {
	base := map[string]any{}
	for _, path := range files {
		var data []byte
		var err error
		if path == "-" {
			if stdin == nil {
				return nil, errors.New("-f -: no standard input")
			}
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("reading values: %w", err)
		}
		vals, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", path, err)
		}
		MergeValues(base, vals)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, base); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	return base, nil
}

// MergeValues merges src into dst; maps merge, anything else replaces.
func MergeValues(dst, src map[string]any) {
	for k, v := range src {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				MergeValues(dm, vm)
				continue
			}
		}
		dst[k] = v
	}
}

// CheckValues renders the chart's values as an install would, so that a
// value the chart's schema rejects is reported before anything changes.
func CheckValues(c *chart.Chart, name, namespace string, values map[string]any) error {
	_, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{
		Name: name, Namespace: namespace, IsInstall: true,
	}, DryRunCapabilities())
	return err
}

// Spec is one release to install or upgrade.
type Spec struct {
	Name      string
	Namespace string
	Chart     *chart.Chart
	Values    map[string]any
	// Wait makes Helm wait for the objects to be ready, up to Timeout.
	Wait    bool
	Timeout time.Duration
	// DryRun is "none", or "server" to render against the cluster and
	// change nothing. (Client-only rendering is Render.)
	DryRun string
	// TakeOwnership adopts objects that exist without Helm's release
	// annotations (e.g. CRDs applied by hand) instead of failing.
	TakeOwnership bool
	PostRenderer  postrender.PostRenderer
	// BeforeInstall runs before a first install (not an upgrade, not a
	// dry run), e.g. to create the release namespace.
	BeforeInstall func(ctx context.Context) error
}

// Outcome says what Apply did.
type Outcome string

// Outcomes of Apply.
const (
	Installed Outcome = "installed"
	Upgraded  Outcome = "upgraded"
)

// Exists reports whether the release has a history in cfg's namespace.
func Exists(cfg *action.Configuration, name string) (bool, error) {
	hist := action.NewHistory(cfg)
	hist.Max = 1
	_, err := hist.Run(name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading release %s: %w", name, err)
	}
	return true, nil
}

// Apply is `helm upgrade --install`: an Upgrade when the release has a
// history, an Install when it has none. An upgrade takes exactly the values
// given (Helm's --reset-values), so re-running with the same flags always
// yields the same release.
func Apply(ctx context.Context, cfg *action.Configuration, s Spec) (*release.Release, Outcome, error) {
	exists, err := Exists(cfg, s.Name)
	if err != nil {
		return nil, "", err
	}
	dry := s.DryRun == "server"
	if !exists {
		if s.BeforeInstall != nil && !dry {
			if err := s.BeforeInstall(ctx); err != nil {
				return nil, "", err
			}
		}
		inst := newInstall(cfg, s)
		if dry {
			inst.DryRun = true
			inst.DryRunOption = "server"
		}
		rel, err := inst.RunWithContext(ctx, s.Chart, s.Values)
		if err != nil {
			return nil, "", fmt.Errorf("installing %s: %w", s.Name, err)
		}
		return rel, Installed, nil
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = s.Namespace
	up.Install = true
	up.Wait = s.Wait
	up.Timeout = s.Timeout
	up.ResetValues = true
	up.MaxHistory = maxHistory
	up.TakeOwnership = s.TakeOwnership
	up.PostRenderer = s.PostRenderer
	if dry {
		up.DryRun = true
		up.DryRunOption = "server"
	}
	rel, err := up.RunWithContext(ctx, s.Name, s.Chart, s.Values)
	if err != nil {
		return nil, "", fmt.Errorf("upgrading %s: %w", s.Name, err)
	}
	return rel, Upgraded, nil
}

func newInstall(cfg *action.Configuration, s Spec) *action.Install {
	inst := action.NewInstall(cfg)
	inst.ReleaseName = s.Name
	inst.Namespace = s.Namespace
	inst.Wait = s.Wait
	inst.Timeout = s.Timeout
	inst.TakeOwnership = s.TakeOwnership
	inst.PostRenderer = s.PostRenderer
	return inst
}

// Render is `helm template`: the release as an install would make it, for
// Kubernetes DryRunKubeVersion, with no cluster at all.
func Render(ctx context.Context, s Spec) (*release.Release, error) {
	cfg := MemoryConfig(s.Namespace, io.Discard)
	inst := newInstall(cfg, s)
	inst.Wait = false
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.ClientOnly = true
	inst.KubeVersion = &cfg.Capabilities.KubeVersion
	rel, err := inst.RunWithContext(ctx, s.Chart, s.Values)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", s.Name, err)
	}
	return rel, nil
}

// Manifest is what the release applies: its manifest and its hooks.
func Manifest(rel *release.Release) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		b.WriteString("\n---\n# Source: " + h.Path + "\n" + strings.TrimSpace(h.Manifest))
	}
	return strings.TrimSpace(b.String()) + "\n"
}

// Manifests joins the manifests of several releases into one stream.
func Manifests(rels []*release.Release) string {
	var b strings.Builder
	for _, rel := range rels {
		b.WriteString("---\n" + Manifest(rel))
	}
	return b.String()
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Objects decodes a multi-document manifest, in order.
func Objects(manifest string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range docSeparator.Split(manifest, -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("reading the rendered manifest: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// Print prints a manifest as YAML documents, or as one JSON List.
func Print(w io.Writer, manifest, format string) error {
	if format == "yaml" {
		s := strings.TrimSpace(manifest)
		if !strings.HasPrefix(s, "---") {
			s = "---\n" + s
		}
		_, err := fmt.Fprintln(w, s)
		return err
	}
	objs, err := Objects(manifest)
	if err != nil {
		return err
	}
	items := make([]any, len(objs))
	for i, obj := range objs {
		items[i] = obj.Object
	}
	b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]any{}}, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// EnsureNamespace creates a namespace with labels, by server-side apply,
// when it does not exist; it reports whether it did.
func EnsureNamespace(ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) (bool, error) {
	_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	ns := corev1ac.Namespace(name).WithLabels(labels)
	if _, err := client.CoreV1().Namespaces().Apply(ctx, ns, metav1.ApplyOptions{FieldManager: FieldManager}); err != nil {
		return false, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return true, nil
}
