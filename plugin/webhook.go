package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/charts"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/webhookstatus"
)

// The release `kubectl mesh webhook` manages, and what the chart names.
const (
	WebhookRelease          = webhookstatus.Release
	DefaultWebhookNamespace = "kubectl-mesh-system"
	// WebhookName is the chart's webhook for CREATE and UPDATE; DELETE has
	// one of its own, with its own failure policy.
	WebhookName = webhookstatus.WebhookName
	// FieldManager is kubectl-mesh's server-side apply field manager.
	FieldManager = helmrelease.FieldManager
	// dryRunKubeVersion is the Kubernetes version `--dry-run=client`
	// renders for.
	dryRunKubeVersion = helmrelease.DryRunKubeVersion
)

func newWebhookCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook install|uninstall|status",
		Short: "Install, remove and check mesh-webhook, the validating admission webhook",
		Long: `mesh-webhook rejects VirtualServices, DestinationRules, Gateways and
ServiceEntries that would break routing, on apply, with the same policies as
'kubectl mesh validate'. Its Helm chart is built into kubectl-mesh: no chart
repository is needed. The release is mesh-webhook in the namespace
--release-namespace (kubectl-mesh-system by default).`,
		// Runnable, so that cobra checks the arguments: an unknown
		// subcommand is a usage error, none prints the help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newWebhookInstallCommand(env, streams),
		newWebhookUninstallCommand(env, streams),
		newWebhookStatusCommand(env, streams),
	)
	return cmd
}

func validateReleaseNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return usageError("--release-namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	return nil
}

func validateDryRunOutput(dryRun, output string) error {
	switch dryRun {
	case "none", "client", "server":
	default:
		return usageError("--dry-run must be none, client or server, not %q", dryRun)
	}
	switch output {
	case "", "yaml", "json":
	default:
		return usageError("--output must be yaml or json, not %q", output)
	}
	return nil
}

// ---------------------------------------------------------------- install

// WebhookInstallOptions holds `kubectl mesh webhook install` flags.
type WebhookInstallOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	ReleaseNamespace string
	ValueFiles       []string
	SetValues        []string
	Wait             bool
	Timeout          time.Duration
	DryRun           string
	Output           string

	chart  *chart.Chart
	values map[string]any
}

// NewWebhookInstallOptions returns options with defaults that install into
// the cluster kubectl's flags select.
func NewWebhookInstallOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *WebhookInstallOptions {
	return &WebhookInstallOptions{
		env: &commandEnv{flags: configFlags}, IOStreams: streams,
		ReleaseNamespace: DefaultWebhookNamespace, Timeout: 5 * time.Minute, DryRun: "none",
	}
}

func newWebhookInstallCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewWebhookInstallOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "install [--set k=v] [-f values.yaml] [--wait] [--dry-run=client -o yaml]",
		Short: "Install or upgrade mesh-webhook from the chart built into kubectl-mesh",
		Long: `Install mesh-webhook as the Helm release mesh-webhook in --release-namespace
(created when missing), or upgrade it when it is there. The values are
exactly those given (-f files in order, then --set): an upgrade does not
carry over values from the previous install.

Values (charts/mesh-webhook/values.yaml): replicas, failurePolicy
(Fail|Ignore), excludedNamespaces, webhookConfigurationName,
certificates.mode (self|cert-manager), policy.rules, policy.extraPolicies,
image.repository, image.tag, resources, priorityClassName, ...

--dry-run=client renders every object without a cluster (for Kubernetes
` + dryRunKubeVersion + `); --dry-run=server renders against the live cluster without
changing it. -o yaml|json prints the objects.`,
		Example: `  # Install, waiting for the pods to be ready
  kubectl mesh webhook install --wait

  # Admit Istio config unchecked when the webhook is down, and skip a namespace
  kubectl mesh webhook install --set failurePolicy=Ignore --set 'excludedNamespaces={legacy}'

  # Certificates from cert-manager instead of the webhook's own CA
  kubectl mesh webhook install --set certificates.mode=cert-manager

  # What would be applied, without a cluster
  kubectl mesh webhook install --dry-run=client -o yaml`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.ReleaseNamespace, "release-namespace", o.ReleaseNamespace, "Namespace of the mesh-webhook release and its objects")
	f.StringArrayVarP(&o.ValueFiles, "values", "f", nil, "Values file (- for stdin); repeatable, later files win")
	f.StringArrayVar(&o.SetValues, "set", nil, "Set a value, as k=v (helm syntax: a.b=c, list={x,y}); repeatable, wins over -f")
	f.BoolVar(&o.Wait, "wait", false, "Wait until the Deployment is ready, up to --timeout")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long an install or upgrade may take, --wait included")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, "none, client (render without a cluster) or server (render against the cluster, change nothing)")
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.Output, "output", "o", "", "Print the objects: yaml or json")
	return cmd
}

// Complete loads the embedded chart and reads the values.
func (o *WebhookInstallOptions) Complete(*cobra.Command, []string) error {
	c, err := charts.LoadMeshWebhook()
	if err != nil {
		return err
	}
	o.chart = c
	vals, err := readValues(o.In, o.ValueFiles, o.SetValues)
	if err != nil {
		return err
	}
	o.values = vals
	return nil
}

// readValues merges -f files and --set values; any error is bad input.
func readValues(stdin io.Reader, files, sets []string) (map[string]any, error) {
	vals, err := helmrelease.ReadValues(stdin, files, sets)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return vals, nil
}

// Validate checks the flags, and the values against the chart's schema.
func (o *WebhookInstallOptions) Validate() error {
	if err := validateDryRunOutput(o.DryRun, o.Output); err != nil {
		return err
	}
	if err := validateReleaseNamespace(o.ReleaseNamespace); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	if o.chart != nil {
		if err := helmrelease.CheckValues(o.chart, WebhookRelease, o.ReleaseNamespace, o.values); err != nil {
			return usageError("invalid values: %v", err)
		}
	}
	return nil
}

// Run installs, upgrades or renders the release.
func (o *WebhookInstallOptions) Run(ctx context.Context) error {
	var rel *release.Release
	var verb string
	var err error
	switch o.DryRun {
	case "client":
		rel, err = o.renderClientOnly(ctx)
		verb = "would be installed"
	default:
		rel, verb, err = o.installOrUpgrade(ctx)
	}
	if err != nil {
		return err
	}
	return o.print(rel, verb)
}

func (o *WebhookInstallOptions) spec() helmrelease.Spec {
	return helmrelease.Spec{
		Name: WebhookRelease, Namespace: o.ReleaseNamespace, Chart: o.chart, Values: o.values,
		Wait: o.Wait, Timeout: o.Timeout, DryRun: o.DryRun,
	}
}

// renderClientOnly is `helm template`: no cluster at all.
func (o *WebhookInstallOptions) renderClientOnly(ctx context.Context) (*release.Release, error) {
	rel, err := helmrelease.Render(ctx, o.spec())
	if err != nil {
		return nil, fmt.Errorf("rendering the mesh-webhook chart: %w", err)
	}
	return rel, nil
}

// installOrUpgrade is `helm upgrade --install`, creating the release
// namespace before a first install.
func (o *WebhookInstallOptions) installOrUpgrade(ctx context.Context) (*release.Release, string, error) {
	cfg, err := o.env.helm(o.ReleaseNamespace)
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	spec := o.spec()
	spec.BeforeInstall = o.ensureNamespace
	rel, outcome, err := helmrelease.Apply(ctx, cfg, spec)
	if err != nil {
		return nil, "", err
	}
	verb := string(outcome)
	if o.DryRun == "server" {
		verb = "would be " + verb
	}
	return rel, verb, nil
}

// ensureNamespace creates the release namespace when it does not exist.
func (o *WebhookInstallOptions) ensureNamespace(ctx context.Context) error {
	client, err := o.env.kube()
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	created, err := helmrelease.EnsureNamespace(ctx, client, o.ReleaseNamespace, map[string]string{"app.kubernetes.io/part-of": "kubectl-mesh"})
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(o.ErrOut, "namespace/%s created\n", o.ReleaseNamespace)
	}
	return nil
}

func (o *WebhookInstallOptions) print(rel *release.Release, verb string) error {
	if o.Output != "" {
		return printManifest(o.Out, releaseManifest(rel), o.Output)
	}
	dry := o.DryRun != "none"
	if dry {
		docs, err := manifestObjects(releaseManifest(rel))
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "release %s %s in namespace %s (dry run, %s):\n", rel.Name, verb, rel.Namespace, o.DryRun)
		for _, d := range docs {
			fmt.Fprintf(o.Out, "  %s/%s\n", d.GetKind(), d.GetName())
		}
		return nil
	}
	fmt.Fprintf(o.Out, "release %s %s in namespace %s (revision %d)\n", rel.Name, verb, rel.Namespace, rel.Version)
	if notes := strings.TrimSpace(rel.Info.Notes); notes != "" {
		fmt.Fprintf(o.Out, "\n%s\n", notes)
	}
	return nil
}

func releaseManifest(rel *release.Release) string { return helmrelease.Manifest(rel) }

func manifestObjects(manifest string) ([]*unstructured.Unstructured, error) {
	return helmrelease.Objects(manifest)
}

func printManifest(w io.Writer, manifest, format string) error {
	return helmrelease.Print(w, manifest, format)
}

// -------------------------------------------------------------- uninstall

// WebhookUninstallOptions holds `kubectl mesh webhook uninstall` flags.
type WebhookUninstallOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	ReleaseNamespace string
	Wait             bool
	Timeout          time.Duration
	DryRun           string
	Output           string
}

// NewWebhookUninstallOptions returns options with defaults that uninstall
// from the cluster kubectl's flags select.
func NewWebhookUninstallOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *WebhookUninstallOptions {
	return &WebhookUninstallOptions{env: &commandEnv{flags: configFlags}, IOStreams: streams,
		ReleaseNamespace: DefaultWebhookNamespace, Timeout: 5 * time.Minute, DryRun: "none"}
}

func newWebhookUninstallCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewWebhookUninstallOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the mesh-webhook release (its webhook configuration first of all)",
		Long: `Uninstall the Helm release mesh-webhook from --release-namespace: the
ValidatingWebhookConfiguration, the Deployment, the RBAC and the certificate
Secret go; the namespace stays. Nothing to uninstall is not an error.`,
		Example: `  kubectl mesh webhook uninstall
  kubectl mesh webhook uninstall --dry-run -o yaml   # what would be deleted`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.ReleaseNamespace, "release-namespace", o.ReleaseNamespace, "Namespace of the mesh-webhook release")
	f.BoolVar(&o.Wait, "wait", false, "Wait until the objects are gone, up to --timeout")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the uninstall may take")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, "none, or client/server: say what would be deleted, delete nothing")
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.Output, "output", "o", "", "Print the objects deleted (or that would be): yaml or json")
	return cmd
}

// Complete has nothing to derive: the release is read in Run.
func (o *WebhookUninstallOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *WebhookUninstallOptions) Validate() error {
	if err := validateDryRunOutput(o.DryRun, o.Output); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	return validateReleaseNamespace(o.ReleaseNamespace)
}

// Run uninstalls the release.
func (o *WebhookUninstallOptions) Run(context.Context) error {
	cfg, err := o.env.helm(o.ReleaseNamespace)
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	hist := action.NewHistory(cfg)
	hist.Max = 1
	if _, err := hist.Run(WebhookRelease); errors.Is(err, driver.ErrReleaseNotFound) {
		fmt.Fprintf(o.Out, "release %s is not installed in namespace %s: nothing to uninstall\n", WebhookRelease, o.ReleaseNamespace)
		return nil
	} else if err != nil {
		return fmt.Errorf("reading the mesh-webhook release: %w", err)
	}
	un := action.NewUninstall(cfg)
	un.Wait = o.Wait
	un.Timeout = o.Timeout
	un.DryRun = o.DryRun != "none"
	res, err := un.Run(WebhookRelease)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		fmt.Fprintf(o.Out, "release %s is not installed in namespace %s: nothing to uninstall\n", WebhookRelease, o.ReleaseNamespace)
		return nil
	}
	if err != nil {
		return fmt.Errorf("uninstalling mesh-webhook: %w", err)
	}
	if o.Output != "" && res != nil && res.Release != nil {
		return printManifest(o.Out, releaseManifest(res.Release), o.Output)
	}
	if un.DryRun {
		fmt.Fprintf(o.Out, "release %s would be uninstalled from namespace %s (dry run)\n", WebhookRelease, o.ReleaseNamespace)
		return nil
	}
	fmt.Fprintf(o.Out, "release %s uninstalled from namespace %s (the namespace is kept)\n", WebhookRelease, o.ReleaseNamespace)
	return nil
}

// ----------------------------------------------------------------- status

// WebhookStatusOptions holds `kubectl mesh webhook status` flags.
type WebhookStatusOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	ReleaseNamespace string
	// Namespace is where the known-bad VirtualService is tried.
	Namespace string

	probe webhookstatus.Options
}

// NewWebhookStatusOptions returns options with defaults that probe the
// cluster kubectl's flags select.
func NewWebhookStatusOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *WebhookStatusOptions {
	return &WebhookStatusOptions{env: &commandEnv{flags: configFlags}, IOStreams: streams, ReleaseNamespace: DefaultWebhookNamespace}
}

func newWebhookStatusCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewWebhookStatusOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Check that mesh-webhook runs and that the API server calls it",
		Long: `Check mesh-webhook: replicas ready, the webhook configuration's failure
policy and CA bundle, the serving certificate's expiry (from its Secret), and
whether the API server actually calls the webhook: a server-side dry-run
create of a VirtualService with weights 90/20 in the default namespace (or
-n) must be denied with a kubectl-mesh message. Nothing is stored.

Exit status: 0 when every check passes, 1 when one fails.`,
		Example: `  kubectl mesh webhook status
  kubectl mesh webhook status -n team-a   # try the bad VirtualService in team-a`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVar(&o.ReleaseNamespace, "release-namespace", o.ReleaseNamespace, "Namespace of the mesh-webhook release")
	return cmd
}

// Complete picks the namespace of the admission check (-n, else default:
// not the kubeconfig's, which would move the check unasked) and builds the
// clients the probes read the cluster with.
func (o *WebhookStatusOptions) Complete(cmd *cobra.Command, _ []string) error {
	if o.Namespace == "" {
		o.Namespace = explicitNamespace(cmd, o.env.flags)
	}
	kube, dyn, err := o.env.clients()
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	mapper, err := o.env.mapper()
	if err != nil {
		return err
	}
	o.probe = webhookstatus.Options{Kube: kube, Dynamic: dyn, Mapper: mapper}
	return nil
}

// Validate checks the flags.
func (o *WebhookStatusOptions) Validate() error {
	return validateReleaseNamespace(o.ReleaseNamespace)
}

// Run prints one line per check; any failure makes it exit 1.
func (o *WebhookStatusOptions) Run(ctx context.Context) error {
	probe := o.probe
	probe.ReleaseNamespace, probe.Namespace, probe.Now = o.ReleaseNamespace, o.Namespace, o.env.clock()
	okMark, failMark := "OK  ", "FAIL"
	if isTerminal(o.Out) {
		okMark, failMark = "✔", "✘"
	}
	failed := 0
	for _, c := range webhookstatus.Run(ctx, probe) {
		mark := okMark
		if !c.OK {
			mark, failed = failMark, failed+1
		}
		fmt.Fprintf(o.Out, "%s %s\n", mark, c.Text)
	}
	if failed > 0 {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
