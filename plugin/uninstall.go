package plugin

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/istioinstall"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
)

// UninstallOptions holds `kubectl mesh uninstall` flags.
type UninstallOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Purge    bool
	Revision string
	Timeout  time.Duration
	DryRun   string
	Output   string
}

// NewUninstallOptions returns options with defaults that uninstall from
// the cluster kubectl's flags select.
func NewUninstallOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *UninstallOptions {
	return &UninstallOptions{env: &commandEnv{flags: configFlags}, IOStreams: streams, Timeout: istioinstall.DefaultTimeout, DryRun: "none"}
}

func newUninstallCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewUninstallOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "uninstall [--purge] [--revision R]",
		Short: "Remove Istio's releases (gateways, istiod, then Istio core)",
		Long: `Uninstall the Helm releases of 'kubectl mesh install' from istio-system, in
reverse order: istio-ingressgateway and istio-egressgateway, istiod (every
revision), istio-base; it waits until their objects are gone. Istio's CRDs,
and so every VirtualService, DestinationRule, Gateway ... in the cluster,
stay (the charts mark them helm.sh/resource-policy: keep) unless --purge
is given. --revision R removes only the control plane of revision R.
The namespace istio-system stays. Nothing to uninstall is not an error.`,
		Example: `  kubectl mesh uninstall
  kubectl mesh uninstall --purge          # Istio's CRDs and all Istio config too
  kubectl mesh uninstall --revision canary
  kubectl mesh uninstall --dry-run -o yaml  # what would be deleted`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Purge, "purge", false, "Also delete Istio's CRDs, and with them every Istio resource in the cluster")
	f.StringVar(&o.Revision, "revision", "", "Remove only the control plane (istiod-REVISION) of this revision")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the uninstall may take")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, "none, or client/server: say what would be deleted, delete nothing")
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.Output, "output", "o", "", "Print the objects of the releases deleted (or that would be): yaml or json")
	return cmd
}

// Complete has nothing to derive: the releases are read in Run.
func (o *UninstallOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *UninstallOptions) Validate() error {
	if err := validateDryRunOutput(o.DryRun, o.Output); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	if err := validateRevision(o.Revision); err != nil {
		return err
	}
	if o.Revision != "" {
		if o.Purge {
			return usageError("--purge removes what every revision shares; it does not go with --revision")
		}
	}
	return nil
}

// Run uninstalls.
func (o *UninstallOptions) Run(ctx context.Context) error {
	dyn, err := o.env.dynamic()
	if err != nil {
		return err
	}
	progressOut := o.Out
	if o.Output != "" {
		progressOut = o.ErrOut
	}
	un := &istioinstall.Uninstaller{
		Config: o.env.helm, Dynamic: dyn, Progress: progress.New(progressOut),
		Timeout: o.Timeout, DryRun: o.DryRun != "none",
	}
	removed, err := un.Uninstall(ctx, o.Revision, o.Purge)
	var ce *istioinstall.ComponentError
	if errors.As(err, &ce) {
		return &ExitError{Code: ExitFailed}
	}
	if err != nil {
		return err
	}
	if o.Output != "" {
		return helmrelease.Print(o.Out, helmrelease.Manifests(removed.Releases), o.Output)
	}
	return nil
}
