package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/gatewayapi"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/istioinstall"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
)

// InstallOptions holds `kubectl mesh install` flags.
type InstallOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Profile    string
	Version    string
	Revision   string
	ValueFiles []string
	SetValues  []string
	ChartsDir  string
	Repo       string
	Timeout    time.Duration
	DryRun     string
	Output     string
	// GatewayAPI installs the Gateway API's CRDs from GatewayAPIManifest
	// first, unless the cluster has them.
	GatewayAPI         bool
	GatewayAPIManifest string

	// versionSet is true when --version was given.
	versionSet bool
	// profileSet is true when --profile was given.
	profileSet bool
	releases   []istioinstall.Release
}

// NewInstallOptions returns options with defaults that install into the
// cluster kubectl's flags select.
func NewInstallOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *InstallOptions {
	return &InstallOptions{
		env: &commandEnv{flags: configFlags}, IOStreams: streams,
		Profile: istioinstall.ProfileDefault, Version: istioinstall.DefaultVersion,
		Timeout: istioinstall.DefaultTimeout, DryRun: "none",
		GatewayAPIManifest: gatewayapi.DefaultManifest,
	}
}

func newInstallCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewInstallOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "install [--profile demo|default|minimal] [--charts DIR] [--set k=v] [-f values.yaml] [--timeout D]",
		Short: "Install or upgrade Istio from its Helm charts, with istioctl-style progress",
		Long: `Install Istio in istio-system as Helm releases, one per component, and wait
for each component's workloads to be ready before the next:

  Istio core        release istio-base            (chart base: CRDs, cluster roles)
  Istiod            release istiod                (chart istiod; istiod-REVISION with --revision)
  Egress gateways   release istio-egressgateway   (chart gateway; demo profile only)
  Ingress gateways  release istio-ingressgateway  (chart gateway; not in minimal)

Gateway pods carry istio=ingressgateway and istio=egressgateway, as
istioctl's do. Profiles: demo (all four, the charts' demo profile values),
default (no egress gateway), minimal (Istio core and Istiod).

Charts come from Istio's chart repository at --version: --repo URL, or else
the Helm repository named istio in Helm's repositories file. --charts DIR
installs from a local copy instead, laid out like an Istio release's
manifests/charts folder (base/, istio-control/istio-discovery/, gateway/).

Values (-f, then --set, as helm reads them) go to istio-base and istiod;
their global.* also reaches the gateways. A top-level key named after a
release addresses that release only, e.g.
--set istio-ingressgateway.service.type=NodePort.

Running it again upgrades the releases in place, with exactly the values
given. On failure it prints a cross, the component and why (the workloads
not ready and their pods' reasons), and exits 1.

--gateway-api first installs the Kubernetes Gateway API's standard CRDs, as
Istio's documentation asks before routing with the Gateway API, unless the
cluster has them (the CRD gateways.gateway.networking.k8s.io exists). They
come from the Gateway API project's release manifest, fetched from
--gateway-api-manifest (a URL or a local file; by default the ` + gatewayapi.Version + `
standard-install.yaml of the project's GitHub release), read whole before
anything is applied, applied server-side and waited for until served.`,
		Example: `  # Istio's demo profile, from the chart repository
  kubectl mesh install --profile demo

  # From a local copy of an Istio release's charts, waiting at most 2 minutes
  kubectl mesh install --profile demo --charts istio-1.32.0/manifests/charts --timeout 2m

  # A NodePort ingress gateway and a custom image hub
  kubectl mesh install --set istio-ingressgateway.service.type=NodePort --set global.hub=my-mirror/istio

  # Every object it would apply, without a cluster
  kubectl mesh install --profile minimal --dry-run=client -o yaml

  # The Gateway API's CRDs too, from a copy of the release manifest
  kubectl mesh install --profile demo --gateway-api --gateway-api-manifest standard-install.yaml`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", o.Profile, "Components and values: "+strings.Join(istioinstall.Profiles(), ", "))
	f.StringVar(&o.Version, "version", o.Version, "Istio chart version to take from the chart repository")
	f.StringVar(&o.Revision, "revision", "", "Install a revisioned control plane (istio.io/rev=REVISION; release istiod-REVISION)")
	f.StringArrayVarP(&o.ValueFiles, "values", "f", nil, "Values file (- for stdin); repeatable, later files win")
	f.StringArrayVar(&o.SetValues, "set", nil, "Set a value, as k=v (helm syntax: a.b=c, list={x,y}); repeatable, wins over -f")
	f.StringVar(&o.ChartsDir, "charts", "", "Install from this folder (an Istio release's manifests/charts) instead of the chart repository")
	f.StringVar(&o.Repo, "repo", "", "Chart repository URL (default: $"+istioinstall.RepoEnv+", else the Helm repository named "+istioinstall.RepoName+", else Istio's "+istioinstall.DefaultRepo+")")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the whole install may take, workloads becoming ready included")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, "none, client (render without a cluster) or server (render against the cluster, change nothing)")
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.Output, "output", "o", "", "Print the objects: yaml or json (progress then goes to stderr)")
	f.BoolVar(&o.GatewayAPI, "gateway-api", false, "First install the Kubernetes Gateway API's standard CRDs, unless the cluster has them")
	f.StringVar(&o.GatewayAPIManifest, "gateway-api-manifest", o.GatewayAPIManifest, "The Gateway API's install manifest: a URL or a local file")
	return cmd
}

// Complete records which of --version and --profile were given, and the
// chart repository $KUBECTL_MESH_ISTIO_REPO names when no flag does.
func (o *InstallOptions) Complete(cmd *cobra.Command, _ []string) error {
	if cmd != nil {
		o.versionSet = cmd.Flags().Changed("version")
		o.profileSet = cmd.Flags().Changed("profile")
	}
	if o.Repo == "" && o.ChartsDir == "" {
		o.Repo = os.Getenv(istioinstall.RepoEnv)
	}
	return nil
}

// Validate checks the flags before anything is read.
func (o *InstallOptions) Validate() error {
	if err := validateDryRunOutput(o.DryRun, o.Output); err != nil {
		return err
	}
	if err := o.profileFromSet(); err != nil {
		return err
	}
	if _, err := istioinstall.ComponentsOf(o.Profile); err != nil {
		return usageError("--profile: %v", err)
	}
	if err := validateRevision(o.Revision); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	if o.ChartsDir != "" && o.versionSet {
		return usageError("--version picks charts from the chart repository; it does not go with --charts (the charts there have their own version)")
	}
	if o.ChartsDir != "" && o.Repo != "" {
		return usageError("--repo and --charts are two chart sources: give one")
	}
	if o.ChartsDir == "" && strings.TrimSpace(o.Version) == "" {
		return usageError("--version must not be empty")
	}
	if o.GatewayAPIManifest != gatewayapi.DefaultManifest && !o.GatewayAPI {
		return usageError("--gateway-api-manifest goes with --gateway-api")
	}
	if strings.TrimSpace(o.GatewayAPIManifest) == "" {
		return usageError("--gateway-api-manifest must not be empty")
	}
	return nil
}

// profileFromSet honours istioctl's spelling, --set profile=demo, as
// --profile demo: it is no chart value, and left among the values it would
// be ignored while the default profile is installed.
func (o *InstallOptions) profileFromSet() error {
	kept := o.SetValues[:0:0]
	for _, kv := range o.SetValues {
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) != "profile" {
			kept = append(kept, kv)
			continue
		}
		if o.profileSet && v != o.Profile {
			return usageError("--set profile=%s and --profile %s disagree: give the profile once, with --profile", v, o.Profile)
		}
		o.Profile, o.profileSet = v, true
	}
	o.SetValues = kept
	return nil
}

// plan reads the values, loads the charts and plans the releases: the
// first thing Run does, once the flags are known to be valid, because it
// reads files and may fetch charts.
func (o *InstallOptions) plan() error {
	vals, err := readValues(o.In, o.ValueFiles, o.SetValues)
	if err != nil {
		return err
	}
	opts := istioinstall.Options{
		Profile: o.Profile, Version: o.Version, Revision: o.Revision,
		Values: vals, ChartsDir: o.ChartsDir, Repo: o.Repo,
	}
	comps, _ := istioinstall.ComponentsOf(o.Profile)
	charts, err := istioinstall.LoadCharts(opts, comps)
	if err != nil {
		return asUsage(err)
	}
	if o.releases, err = istioinstall.Plan(opts, charts); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// validateRevision checks --revision: a label value that also goes into
// the names istiod-REVISION.
func validateRevision(rev string) error {
	if rev == "" {
		return nil
	}
	if errs := validation.IsDNS1123Label(rev); len(errs) > 0 {
		return usageError("--revision %q: %s", rev, strings.Join(errs, "; "))
	}
	return nil
}

// asUsage turns the engine's input errors into exit 2.
func asUsage(err error) error {
	var ie *istioinstall.InputError
	if errors.As(err, &ie) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return err
}

// Run installs, upgrades or renders.
func (o *InstallOptions) Run(ctx context.Context) error {
	if err := o.plan(); err != nil {
		return err
	}
	if o.DryRun == "client" {
		var crds []*unstructured.Unstructured
		if o.GatewayAPI {
			var err error
			if crds, err = gatewayapi.Read(ctx, &http.Client{}, o.GatewayAPIManifest); err != nil {
				return &ExitError{Code: ExitFailed, Err: err}
			}
		}
		rels, err := istioinstall.Render(ctx, o.releases)
		if err != nil {
			return err
		}
		return o.print(crds, rels)
	}
	kube, err := o.env.kube()
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	progressOut := o.Out
	if o.Output != "" {
		progressOut = o.ErrOut
	}
	if o.DryRun == "server" {
		progressOut = io.Discard
	}
	pw := progress.New(progressOut)
	var crds []*unstructured.Unstructured
	if o.GatewayAPI {
		dyn, err := o.env.dynamic()
		if err != nil {
			return fmt.Errorf("connecting to the cluster: %w", err)
		}
		gw := &gatewayapi.Installer{Applier: &apply.Applier{Client: dyn, DryRun: apply.DryRun(o.DryRun)}, HTTP: &http.Client{}, Progress: pw, Timeout: o.Timeout}
		crds, err = gw.Install(ctx, o.GatewayAPIManifest)
		if errors.Is(err, gatewayapi.ErrFailed) {
			return &ExitError{Code: ExitFailed} // the cross and the reason are printed already
		}
		if err != nil {
			return err
		}
	}
	in := &istioinstall.Installer{
		Config: o.env.helm, Kube: kube, Progress: pw,
		Timeout: o.Timeout, DryRun: o.DryRun,
	}
	rels, err := in.Install(ctx, o.releases)
	var ce *istioinstall.ComponentError
	if errors.As(err, &ce) {
		// The cross and the reason are printed already.
		return &ExitError{Code: ExitFailed}
	}
	if err != nil {
		return err
	}
	if o.DryRun == "server" || o.Output != "" {
		return o.print(crds, rels)
	}
	return nil
}

// print prints the Gateway API's objects and the rendered releases: the
// objects with -o, else a summary.
func (o *InstallOptions) print(crds []*unstructured.Unstructured, rels []*release.Release) error {
	if o.Output != "" && len(crds) == 0 {
		return helmrelease.Print(o.Out, helmrelease.Manifests(rels), o.Output)
	}
	if o.Output != "" {
		// One stream of documents (or one List) for both sources.
		objs, err := helmrelease.Objects(helmrelease.Manifests(rels))
		if err != nil {
			return err
		}
		return apply.Print(o.Out, o.Output, append(crds, objs...))
	}
	if len(crds) > 0 {
		fmt.Fprintf(o.Out, "%s from %s would be installed unless the cluster has %s (dry run, %s):\n", gatewayapi.Component, o.GatewayAPIManifest, gatewayapi.GatewaysCRD, o.DryRun)
		for _, name := range gatewayapi.Names(crds) {
			fmt.Fprintf(o.Out, "  %s\n", name)
		}
	}
	for _, rel := range rels {
		objs, err := helmrelease.Objects(helmrelease.Manifest(rel))
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "release %s (chart %s %s) would be installed or upgraded in namespace %s (dry run, %s):\n",
			rel.Name, rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Namespace, o.DryRun)
		for _, obj := range objs {
			fmt.Fprintf(o.Out, "  %s/%s\n", obj.GetKind(), obj.GetName())
		}
	}
	return nil
}
