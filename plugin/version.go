package plugin

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	opaversion "github.com/open-policy-agent/opa/v1/version"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/istioinstall"
)

// Set by the linker: -X github.com/kubectl-mesh/kubectl-mesh/plugin.Version=...
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
)

// VersionInfo is what `kubectl mesh version` prints.
type VersionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	GoVersion  string `json:"goVersion"`
	OPAVersion string `json:"opaVersion"`
	Platform   string `json:"platform"`
	// IstioVersion is the Istio release install takes by default, the one
	// the project is tested with.
	IstioVersion string `json:"istioVersion"`
}

// CurrentVersion describes this build.
func CurrentVersion() VersionInfo {
	return VersionInfo{
		Version:    Version,
		Commit:     Commit,
		GoVersion:  runtime.Version(),
		OPAVersion: opaversion.Version,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,

		IstioVersion: istioinstall.DefaultVersion,
	}
}

// VersionOptions holds `kubectl mesh version` flags.
type VersionOptions struct {
	genericiooptions.IOStreams
	Output string
}

func newVersionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl-mesh and of the OPA engine it embeds",
		Example: `  kubectl mesh version
  kubectl mesh version -o json`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: empty for text, or json")
	return cmd
}

// Complete has nothing to derive: the version is the build's.
func (o *VersionOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags.
func (o *VersionOptions) Validate() error {
	if o.Output != "" && o.Output != "json" {
		return usageError("--output must be empty or json, not %q", o.Output)
	}
	return nil
}

// Run prints the version.
func (o *VersionOptions) Run(context.Context) error {
	v := CurrentVersion()
	if o.Output == "json" {
		return printJSON(o.Out, v)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-mesh %s (commit %s, %s, %s, OPA %s; installs Istio %s)\n", v.Version, v.Commit, v.GoVersion, v.Platform, v.OPAVersion, v.IstioVersion)
	return err
}
