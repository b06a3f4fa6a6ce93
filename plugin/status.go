package plugin

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/istioinstall"
)

// MeshStatusOptions holds `kubectl mesh status` flags.
type MeshStatusOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Output string
}

func newMeshStatusCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &MeshStatusOptions{env: env, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "status [-o json]",
		Short: "Show Istio's components, their versions and readiness, injection and mesh-webhook",
		Long: `Show what 'kubectl mesh install' installed in istio-system: each component's
release, chart and app version, Helm status and whether its workloads are
ready; the namespaces with sidecar injection enabled (istio-injection=enabled
or istio.io/rev); and whether mesh-webhook ('kubectl mesh webhook install')
is installed.

Exit status: 0 when Istio is installed and every component is ready, 1
otherwise.`,
		Example: `  kubectl mesh status
  kubectl mesh status -o json`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json (default: text)")
	return cmd
}

// Complete has nothing to derive: the status is read in Run.
func (o *MeshStatusOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *MeshStatusOptions) Validate() error {
	switch o.Output {
	case "", "text", "json":
		return nil
	}
	return usageError("--output must be text or json, not %q", o.Output)
}

// Run prints the status.
func (o *MeshStatusOptions) Run(ctx context.Context) error {
	kube, err := o.env.kube()
	if err != nil {
		return fmt.Errorf("connecting to the cluster: %w", err)
	}
	reader := &istioinstall.StatusReader{Config: o.env.helm, Kube: kube, WebhookRelease: WebhookRelease}
	st, err := reader.Read(ctx)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		if err := printJSON(o.Out, st); err != nil {
			return err
		}
	} else {
		printMeshStatus(o.Out, st)
	}
	if !st.Ready {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

func printMeshStatus(w interface{ Write([]byte) (int, error) }, st *istioinstall.Status) {
	if !st.Installed {
		fmt.Fprintf(w, "Istio: not installed in %s (kubectl mesh install installs Istio %s)\n", st.Namespace, istioinstall.DefaultVersion)
	} else {
		fmt.Fprintf(w, "Istio in %s:\n", st.Namespace)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPONENT\tRELEASE\tCHART\tAPP VERSION\tSTATUS\tREADY\tWORKLOADS")
		for _, c := range st.Components {
			var wl []string
			for _, x := range c.Workloads {
				if !x.Found {
					wl = append(wl, fmt.Sprintf("%s/%s missing", x.Kind, x.Name))
					continue
				}
				wl = append(wl, fmt.Sprintf("%s/%s %d/%d", x.Kind, x.Name, x.Ready, x.Desired))
			}
			if len(wl) == 0 {
				wl = []string{"-"}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", c.Component, c.Release, c.Chart, c.ChartVersion,
				c.AppVersion, c.Status, pick(c.Ready, "yes", "no"), strings.Join(wl, ", "))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if len(st.InjectionNamespaces) == 0 {
		fmt.Fprintln(w, "Sidecar injection: no namespace enabled (kubectl mesh inject enable NAMESPACE)")
	} else {
		fmt.Fprintln(w, "Sidecar injection enabled in:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, ns := range st.InjectionNamespaces {
			fmt.Fprintf(tw, "  %s\t%s\n", ns.Name, ns.Label)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if wh := st.MeshWebhook; wh.Installed {
		fmt.Fprintf(w, "mesh-webhook: installed in %s (chart %s, app %s, %s)\n", wh.Namespace, wh.ChartVersion, wh.AppVersion, wh.Status)
	} else {
		fmt.Fprintln(w, "mesh-webhook: not installed (kubectl mesh webhook install)")
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}
