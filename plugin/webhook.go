package plugin

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/charts"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
)

// The release `kubectl mesh webhook` manages, and what the chart names.
const (
	WebhookRelease          = "mesh-webhook"
	DefaultWebhookNamespace = "kubectl-mesh-system"
	// WebhookName is the chart's webhook for CREATE and UPDATE; DELETE has
	// one of its own, with its own failure policy.
	WebhookName = "validate.mesh.kubectl-mesh.io"
	// FieldManager is kubectl-mesh's server-side apply field manager.
	FieldManager = helmrelease.FieldManager
	// dryRunKubeVersion is the Kubernetes version `--dry-run=client`
	// renders for.
	dryRunKubeVersion = helmrelease.DryRunKubeVersion
	// webhookSelector finds the release's objects (the chart's labels).
	webhookSelector = "app.kubernetes.io/instance=" + WebhookRelease + ",app.kubernetes.io/part-of=kubectl-mesh"
	// breakGlassLabel=disabled on a namespace keeps the webhook out of it.
	breakGlassLabel = "kubectl-mesh.io/validation"
)

func newWebhookCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
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
		newWebhookInstallCommand(configFlags, streams),
		newWebhookUninstallCommand(configFlags, streams),
		newWebhookStatusCommand(configFlags, streams),
	)
	return cmd
}

// helmConfig is the Helm action configuration of the release namespace.
func helmConfig(configFlags *genericclioptions.ConfigFlags, namespace string) (*action.Configuration, error) {
	return helmrelease.Config(configFlags, namespace)
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
	configFlags *genericclioptions.ConfigFlags
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
	// Tests replace these.
	actionConfig func(namespace string) (*action.Configuration, error)
	kubeClient   func() (kubernetes.Interface, error)
}

// NewWebhookInstallOptions returns options with defaults.
func NewWebhookInstallOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *WebhookInstallOptions {
	return &WebhookInstallOptions{
		configFlags: configFlags, IOStreams: streams,
		ReleaseNamespace: DefaultWebhookNamespace, Timeout: 5 * time.Minute, DryRun: "none",
	}
}

func newWebhookInstallCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewWebhookInstallOptions(configFlags, streams)
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
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
func (o *WebhookInstallOptions) Complete() error {
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
	if o.actionConfig == nil {
		o.actionConfig = func(ns string) (*action.Configuration, error) { return helmConfig(o.configFlags, ns) }
	}
	if o.kubeClient == nil {
		o.kubeClient = func() (kubernetes.Interface, error) { return kubeClientFor(o.configFlags) }
	}
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
	if ctx == nil {
		ctx = context.Background()
	}
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
	cfg, err := o.actionConfig(o.ReleaseNamespace)
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
	client, err := o.kubeClient()
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
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	ReleaseNamespace string
	Wait             bool
	Timeout          time.Duration
	DryRun           string
	Output           string

	actionConfig func(namespace string) (*action.Configuration, error)
}

// NewWebhookUninstallOptions returns options with defaults.
func NewWebhookUninstallOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *WebhookUninstallOptions {
	return &WebhookUninstallOptions{configFlags: configFlags, IOStreams: streams,
		ReleaseNamespace: DefaultWebhookNamespace, Timeout: 5 * time.Minute, DryRun: "none"}
}

func newWebhookUninstallCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewWebhookUninstallOptions(configFlags, streams)
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the mesh-webhook release (its webhook configuration first of all)",
		Long: `Uninstall the Helm release mesh-webhook from --release-namespace: the
ValidatingWebhookConfiguration, the Deployment, the RBAC and the certificate
Secret go; the namespace stays. Nothing to uninstall is not an error.`,
		Example: `  kubectl mesh webhook uninstall
  kubectl mesh webhook uninstall --dry-run -o yaml   # what would be deleted`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Complete()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
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

// Complete fills in the Helm configuration.
func (o *WebhookUninstallOptions) Complete() {
	if o.actionConfig == nil {
		o.actionConfig = func(ns string) (*action.Configuration, error) { return helmConfig(o.configFlags, ns) }
	}
}

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
func (o *WebhookUninstallOptions) Run() error {
	cfg, err := o.actionConfig(o.ReleaseNamespace)
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
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	ReleaseNamespace string
	// Namespace is where the known-bad VirtualService is tried.
	Namespace string

	// Clients; Complete builds the missing ones from the kubeconfig flags.
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	Now     func() time.Time
}

// NewWebhookStatusOptions returns options with defaults.
func NewWebhookStatusOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *WebhookStatusOptions {
	return &WebhookStatusOptions{configFlags: configFlags, IOStreams: streams, ReleaseNamespace: DefaultWebhookNamespace}
}

func newWebhookStatusCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewWebhookStatusOptions(configFlags, streams)
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.ReleaseNamespace, "release-namespace", o.ReleaseNamespace, "Namespace of the mesh-webhook release")
	return cmd
}

// Complete picks the namespace of the admission check and builds clients.
func (o *WebhookStatusOptions) Complete(cmd *cobra.Command) error {
	if o.Namespace == "" {
		o.Namespace = "default"
		if cmd != nil && cmd.Flags().Changed("namespace") && o.configFlags.Namespace != nil && *o.configFlags.Namespace != "" {
			o.Namespace = *o.configFlags.Namespace
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Kube != nil && o.Dynamic != nil && o.Mapper != nil {
		return nil
	}
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	if o.Kube == nil {
		if o.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	}
	if o.Dynamic == nil {
		if o.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
			return err
		}
	}
	if o.Mapper == nil {
		if o.Mapper, err = o.configFlags.ToRESTMapper(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the flags.
func (o *WebhookStatusOptions) Validate() error {
	return validateReleaseNamespace(o.ReleaseNamespace)
}

type statusCheck struct {
	ok   bool
	text string
}

// Run prints one line per check; any failure makes it exit 1.
func (o *WebhookStatusOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	deploy, checks := o.checkDeployment(ctx)
	webhookConfig, certSecret, policy := "mesh-webhook", "mesh-webhook-tls", ""
	if deploy != nil {
		webhookConfig, certSecret, policy = deploymentNames(deploy, webhookConfig, certSecret)
	}
	wh, c := o.checkWebhookConfiguration(ctx, webhookConfig, policy)
	checks = append(checks, c)
	checks = append(checks, o.checkCertificate(ctx, certSecret, wh))
	checks = append(checks, o.checkAdmission(ctx, wh))

	okMark, failMark := "OK  ", "FAIL"
	if isTerminal(o.Out) {
		okMark, failMark = "✔", "✘"
	}
	failed := 0
	for _, c := range checks {
		mark := okMark
		if !c.ok {
			mark, failed = failMark, failed+1
		}
		fmt.Fprintf(o.Out, "%s %s\n", mark, c.text)
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

func (o *WebhookStatusOptions) checkDeployment(ctx context.Context) (*appsv1.Deployment, []statusCheck) {
	list, err := o.Kube.AppsV1().Deployments(o.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: webhookSelector})
	if err != nil {
		return nil, []statusCheck{{false, fmt.Sprintf("mesh-webhook Deployment: %v", err)}}
	}
	if len(list.Items) == 0 {
		return nil, []statusCheck{{false, fmt.Sprintf("mesh-webhook Deployment: none in namespace %s (kubectl mesh webhook install)", o.ReleaseNamespace)}}
	}
	d := &list.Items[0]
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ready := d.Status.ReadyReplicas
	text := fmt.Sprintf("Deployment %s/%s: %d/%d replicas ready", d.Namespace, d.Name, ready, want)
	ok := ready > 0 && ready >= want
	if ready == 0 {
		text += " (no pod serves the webhook)"
	}
	return d, []statusCheck{{ok, text}}
}

// deploymentNames reads the webhook configuration and certificate Secret
// names from mesh-webhook's arguments and volumes, and the failure policy
// it gives the CREATE/UPDATE webhook (--failure-policy; "" when none).
func deploymentNames(d *appsv1.Deployment, webhookConfig, certSecret string) (string, string, string) {
	policy := ""
	pod := d.Spec.Template.Spec
	certDir := ""
	for _, c := range pod.Containers {
		for _, a := range c.Args {
			name, val, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			switch name {
			case "webhook-config":
				webhookConfig = val
			case "cert-secret":
				certSecret = val
			case "cert-dir":
				certDir = val
			case "failure-policy":
				policy = val
			}
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != certDir {
				continue
			}
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					certSecret = v.Secret.SecretName
				}
			}
		}
	}
	return webhookConfig, certSecret, policy
}

// checkWebhookConfiguration reports the failure policy per operation
// (CREATE/UPDATE and DELETE are separate entries) and whether every entry
// has a caBundle; want is the policy mesh-webhook sets on the
// CREATE/UPDATE entry once it serves. It returns that entry.
func (o *WebhookStatusOptions) checkWebhookConfiguration(ctx context.Context, name, want string) (*admissionregistrationv1.ValidatingWebhook, statusCheck) {
	vwc, err := o.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, statusCheck{false, fmt.Sprintf("ValidatingWebhookConfiguration %s: %v", name, err)}
	}
	var main *admissionregistrationv1.ValidatingWebhook
	var policies []string
	caMissing := false
	for i := range vwc.Webhooks {
		wh := &vwc.Webhooks[i]
		if wh.Name == WebhookName {
			main = wh
		}
		fp := admissionregistrationv1.Fail
		if wh.FailurePolicy != nil {
			fp = *wh.FailurePolicy
		}
		var ops []string
		for _, r := range wh.Rules {
			for _, op := range r.Operations {
				if !slices.Contains(ops, string(op)) {
					ops = append(ops, string(op))
				}
			}
		}
		policies = append(policies, fmt.Sprintf("%s %s", strings.Join(ops, "/"), fp))
		caMissing = caMissing || len(wh.ClientConfig.CABundle) == 0
	}
	if main == nil {
		return nil, statusCheck{false, fmt.Sprintf("ValidatingWebhookConfiguration %s: no webhook %s", name, WebhookName)}
	}
	text := fmt.Sprintf("ValidatingWebhookConfiguration %s: failurePolicy %s", name, strings.Join(policies, ", "))
	if caMissing {
		return main, statusCheck{false, text + "; no caBundle yet (the API server cannot call the webhook)"}
	}
	if want != "" && main.FailurePolicy != nil && string(*main.FailurePolicy) != want {
		return main, statusCheck{false, fmt.Sprintf("%s; caBundle set, but %s is still %s: mesh-webhook sets %s once it serves", text, WebhookName, *main.FailurePolicy, want)}
	}
	return main, statusCheck{true, text + "; caBundle set"}
}

func (o *WebhookStatusOptions) checkCertificate(ctx context.Context, name string, wh *admissionregistrationv1.ValidatingWebhook) statusCheck {
	what := fmt.Sprintf("serving certificate (Secret %s/%s)", o.ReleaseNamespace, name)
	secret, err := o.Kube.CoreV1().Secrets(o.ReleaseNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return statusCheck{false, fmt.Sprintf("%s: %v", what, err)}
	}
	data := secret.Data[corev1.TLSCertKey]
	if len(data) == 0 {
		return statusCheck{false, what + ": no tls.crt yet"}
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return statusCheck{false, what + ": tls.crt is not PEM"}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return statusCheck{false, fmt.Sprintf("%s: %v", what, err)}
	}
	now := o.Now()
	left := cert.NotAfter.Sub(now)
	text := fmt.Sprintf("%s: expires %s (in %s)", what, cert.NotAfter.UTC().Format(time.RFC3339), humanDuration(left))
	switch {
	case left <= 0:
		return statusCheck{false, fmt.Sprintf("%s: expired %s", what, cert.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(cert.NotBefore):
		return statusCheck{false, fmt.Sprintf("%s: not valid before %s", what, cert.NotBefore.UTC().Format(time.RFC3339))}
	}
	// Does the API server's CA bundle vouch for it?
	if wh != nil && len(wh.ClientConfig.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(wh.ClientConfig.CABundle) {
			return statusCheck{false, text + "; the caBundle holds no certificate"}
		}
		opts := x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if svc := wh.ClientConfig.Service; svc != nil {
			opts.DNSName = svc.Name + "." + svc.Namespace + ".svc"
		}
		if _, err := cert.Verify(opts); err != nil {
			return statusCheck{false, fmt.Sprintf("%s; the webhook's caBundle does not verify it: %v", text, err)}
		}
	}
	return statusCheck{true, text}
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	default:
		return d.Round(time.Second).String()
	}
}

// badVirtualService is a VirtualService every kubectl-mesh policy set
// denies: its weights add up to 110 (MESH0104).
func badVirtualService(gv schema.GroupVersion, namespace string) *unstructured.Unstructured {
	route := func(host string, weight int64) map[string]any {
		return map[string]any{"destination": map[string]any{"host": host}, "weight": weight}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gv.String(),
		"kind":       "VirtualService",
		"metadata": map[string]any{
			"name":      "kubectl-mesh-webhook-check",
			"namespace": namespace,
			"labels":    map[string]any{"app.kubernetes.io/managed-by": "kubectl-mesh"},
		},
		"spec": map[string]any{
			"hosts": []any{"kubectl-mesh-webhook-check"},
			"http": []any{map[string]any{"route": []any{
				route("kubectl-mesh-webhook-check-a", 90),
				route("kubectl-mesh-webhook-check-b", 20),
			}}},
		},
	}}
}

var findingCode = regexp.MustCompile(`\[(MESH[0-9]{4})\]`)

func (o *WebhookStatusOptions) checkAdmission(ctx context.Context, wh *admissionregistrationv1.ValidatingWebhook) statusCheck {
	what := fmt.Sprintf("admission: a VirtualService with weights 90/20 in namespace %s", o.Namespace)
	mapping, err := o.Mapper.RESTMapping(schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"})
	if err != nil {
		return statusCheck{false, fmt.Sprintf("%s: the cluster does not serve VirtualServices (is Istio installed?): %v", what, err)}
	}
	vs := badVirtualService(mapping.GroupVersionKind.GroupVersion(), o.Namespace)
	_, err = o.Dynamic.Resource(mapping.Resource).Namespace(o.Namespace).Create(ctx, vs, metav1.CreateOptions{
		DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager,
	})
	if err == nil {
		return statusCheck{false, what + " was admitted: " + o.admittedBecause(ctx, wh)}
	}
	msg := err.Error()
	if codes := findingCode.FindAllStringSubmatch(msg, -1); len(codes) > 0 && strings.Contains(msg, "denied the request") {
		var list []string
		for _, c := range codes {
			if !slices.Contains(list, c[1]) {
				list = append(list, c[1])
			}
		}
		sort.Strings(list)
		return statusCheck{true, fmt.Sprintf("%s was denied by mesh-webhook (%s)", what, strings.Join(list, ", "))}
	}
	return statusCheck{false, fmt.Sprintf("%s was not denied by mesh-webhook: %s", what, firstLine(msg))}
}

// admittedBecause guesses why the known-bad VirtualService got through.
func (o *WebhookStatusOptions) admittedBecause(ctx context.Context, wh *admissionregistrationv1.ValidatingWebhook) string {
	if wh == nil {
		return "no mesh-webhook configuration is registered"
	}
	if wh.NamespaceSelector != nil {
		ns, err := o.Kube.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
		sel, serr := metav1.LabelSelectorAsSelector(wh.NamespaceSelector)
		if err == nil && serr == nil && !sel.Matches(labels.Set(ns.Labels)) {
			return fmt.Sprintf("the webhook's namespaceSelector leaves namespace %s out (an excluded namespace, or labelled %s=disabled); check another with -n",
				o.Namespace, breakGlassLabel)
		}
	}
	if wh.FailurePolicy != nil && *wh.FailurePolicy == admissionregistrationv1.Ignore {
		return "the API server could not call mesh-webhook and failurePolicy Ignore let the object through"
	}
	return "mesh-webhook allowed it (are MESH0104 and the host checks turned off?)"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
