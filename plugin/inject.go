package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

const (
	injectionLabel = "istio-injection"
	revisionLabel  = "istio.io/rev"
	sidecarName    = "istio-proxy"
	restartedAt    = "kubectl.kubernetes.io/restartedAt"
)

// InjectOptions holds `kubectl mesh inject enable|disable NAMESPACE` flags.
type InjectOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Enable    bool
	Namespace string
	Revision  string
	Restart   bool
	DryRun    string
	Output    string
}

func newInjectCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &InjectOptions{env: env, IOStreams: streams, DryRun: "none"}
	cmd := &cobra.Command{
		Use:   "inject enable|disable NAMESPACE",
		Short: "Turn Istio sidecar injection on or off for a namespace",
		Long: `Label a namespace for Istio's sidecar injection (istio-injection=enabled, or
istio.io/rev=REVISION with --revision), or remove the label. Pods only get or
lose the sidecar when they are recreated: --restart restarts the Deployments
whose pods do not match the new setting; without it they are listed.`,
		Example: `  kubectl mesh inject enable default
  kubectl mesh inject enable bookinfo --restart
  kubectl mesh inject enable bookinfo --revision 1-24
  kubectl mesh inject disable bookinfo --dry-run=server -o yaml`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: completeArgs(
			cobra.FixedCompletions([]cobra.Completion{"enable", "disable"}, cobra.ShellCompDirectiveNoFileComp),
			completeNamespaces(env),
		),
		RunE: runOptions(o),
	}
	cmd.Flags().StringVar(&o.Revision, "revision", "", "Label istio.io/rev=REVISION instead of istio-injection=enabled")
	cmd.Flags().BoolVar(&o.Restart, "restart", false, "Restart the Deployments whose pods do not match the new setting")
	cmd.Flags().StringVar(&o.DryRun, "dry-run", o.DryRun, "none, client (print only) or server (the API server checks, nothing is stored)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Print the namespace as it would be applied: yaml or json")
	return cmd
}

// Complete reads the arguments.
func (o *InjectOptions) Complete(_ *cobra.Command, args []string) error {
	switch args[0] {
	case "enable":
		o.Enable = true
	case "disable":
		o.Enable = false
	default:
		return usageError("the first argument must be enable or disable, not %q", args[0])
	}
	o.Namespace = args[1]
	return nil
}

// Validate checks the flags.
func (o *InjectOptions) Validate() error {
	switch o.DryRun {
	case "none", "client", "server":
	default:
		return usageError("--dry-run must be none, client or server, not %q", o.DryRun)
	}
	switch o.Output {
	case "", "yaml", "json":
	default:
		return usageError("--output must be yaml or json, not %q", o.Output)
	}
	if !o.Enable && o.Revision != "" {
		return usageError("--revision only goes with enable")
	}
	return nil
}

// Run labels the namespace and restarts or lists the Deployments to recreate.
func (o *InjectOptions) Run(ctx context.Context) error {
	client, err := o.env.kube()
	if err != nil {
		return err
	}
	return o.label(ctx, client)
}

// label labels the namespace and restarts or lists the Deployments to
// recreate; deploy calls it with the client it already holds.
func (o *InjectOptions) label(ctx context.Context, client kubernetes.Interface) error {
	ns, err := client.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading namespace %s: %w", o.Namespace, err)
	}
	want := map[string]string{}
	if o.Enable && o.Revision != "" {
		want[revisionLabel] = o.Revision
	} else if o.Enable {
		want[injectionLabel] = "enabled"
	}
	// Server-side apply owns the label kubectl-mesh sets; the label of the
	// other scheme, and labels set by hand, are removed with a patch.
	var drop []string
	for _, l := range []string{injectionLabel, revisionLabel} {
		if _, set := want[l]; !set {
			if _, has := ns.Labels[l]; has {
				drop = append(drop, l)
			}
		}
	}
	result := ns.DeepCopy()
	if o.DryRun != "client" {
		dryRun := []string(nil)
		if o.DryRun == "server" {
			dryRun = []string{metav1.DryRunAll}
		}
		if len(drop) > 0 {
			labels := map[string]any{}
			for _, l := range drop {
				labels[l] = nil
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
			if result, err = client.CoreV1().Namespaces().Patch(ctx, o.Namespace, types.MergePatchType, patch, metav1.PatchOptions{DryRun: dryRun, FieldManager: FieldManager}); err != nil {
				return fmt.Errorf("removing injection labels of namespace %s: %w", o.Namespace, err)
			}
		}
		if len(want) > 0 {
			apply := corev1ac.Namespace(o.Namespace).WithLabels(want)
			if result, err = client.CoreV1().Namespaces().Apply(ctx, apply, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: dryRun}); err != nil {
				return fmt.Errorf("labelling namespace %s: %w", o.Namespace, err)
			}
		}
	} else {
		if result.Labels == nil {
			result.Labels = map[string]string{}
		}
		for _, l := range drop {
			delete(result.Labels, l)
		}
		for k, v := range want {
			result.Labels[k] = v
		}
	}
	if o.Output != "" {
		result.APIVersion, result.Kind = "v1", "Namespace"
		result.ManagedFields = nil
		if err := printObject(o.Out, o.Output, result); err != nil {
			return err
		}
	} else {
		state := "disabled"
		if o.Enable {
			state = "enabled"
		}
		fmt.Fprintf(o.Out, "namespace/%s: sidecar injection %s%s\n", o.Namespace, state, dryRunSuffix(o.DryRun))
	}
	return o.restartStale(ctx, client)
}

// restartStale finds the Deployments whose pods do not match the new
// setting and restarts them (--restart) or says how to.
func (o *InjectOptions) restartStale(ctx context.Context, client kubernetes.Interface) error {
	deps, err := client.AppsV1().Deployments(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing Deployments of %s: %w", o.Namespace, err)
	}
	pods, err := client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing pods of %s: %w", o.Namespace, err)
	}
	var stale []string
	for i := range deps.Items {
		if deploymentIsStale(&deps.Items[i], pods.Items, o.Enable) {
			stale = append(stale, deps.Items[i].Name)
		}
	}
	sort.Strings(stale)
	what := "without"
	if !o.Enable {
		what = "with"
	}
	for _, name := range stale {
		if !o.Restart || o.DryRun == "client" {
			fmt.Fprintf(o.ErrOut, "Warning: deployment/%s has pods %s the %s sidecar; restart it (--restart, or kubectl rollout restart deployment/%s -n %s)\n", name, what, sidecarName, name, o.Namespace)
			continue
		}
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{restartedAt: o.env.clock().UTC().Format(time.RFC3339)},
		}}}})
		opts := metav1.PatchOptions{FieldManager: FieldManager}
		if o.DryRun == "server" {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := client.AppsV1().Deployments(o.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, opts); err != nil {
			return fmt.Errorf("restarting deployment/%s: %w", name, err)
		}
		// With -o, standard output holds only the printed namespace.
		progress := o.Out
		if o.Output != "" {
			progress = o.ErrOut
		}
		fmt.Fprintf(progress, "deployment/%s restarted%s\n", name, dryRunSuffix(o.DryRun))
	}
	return nil
}

// deploymentIsStale reports whether a pod of the Deployment has the
// sidecar when it should not, or lacks it when it should.
func deploymentIsStale(d *appsv1.Deployment, pods []corev1.Pod, injected bool) bool {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return false
	}
	for i := range pods {
		if !sel.Matches(labels.Set(pods[i].Labels)) {
			continue
		}
		if hasSidecar(&pods[i]) != injected {
			return true
		}
	}
	return false
}

// hasSidecar recognises both the classic sidecar container and the native
// sidecar (an init container that keeps running).
func hasSidecar(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == sidecarName {
			return true
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == sidecarName {
			return true
		}
	}
	return false
}

func dryRunSuffix(mode string) string {
	if mode == "none" || mode == "" {
		return ""
	}
	return " (dry run: " + mode + ")"
}

// printObject prints an object as YAML or JSON.
func printObject(w interface{ Write([]byte) (int, error) }, format string, obj any) error {
	b, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
	} else {
		b = append(b, '\n')
	}
	_, err = w.Write(b)
	return err
}
