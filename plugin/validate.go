package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
	"github.com/kubectl-mesh/kubectl-mesh/policies/report"
)

// ValidateOptions holds `kubectl mesh validate` flags and what Complete
// derives from them.
type ValidateOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Filenames     []string
	Recursive     bool
	Output        string
	PolicyDirs    []string
	ConfigFile    string
	ClusterDomain string
	RootNamespace string
	Cluster       bool

	namespace string
	settings  policies.Settings
}

// NewValidateOptions returns options with defaults; --cluster reaches the
// cluster kubectl's flags select.
func NewValidateOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *ValidateOptions {
	return &ValidateOptions{env: &commandEnv{flags: configFlags}, IOStreams: streams, Output: "text"}
}

func newValidateCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewValidateOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "validate -f PATH [-f PATH ...]",
		Short: "Check Istio traffic config offline with the webhook's policies",
		Long: `Validate VirtualServices, DestinationRules, Gateways and ServiceEntries in
files, directories or standard input, with the same Rego policies mesh-webhook
enforces on apply. Services, ServiceEntries, DestinationRules, Gateways and Pods
in the input are the inventory that references resolve against; --cluster adds
the live cluster's.

Exit status: 0 when no finding is an error, 1 when one is, 2 when an input
cannot be read.`,
		Example: `  # Validate a directory of manifests, recursively
  kubectl mesh validate -f deploy/ -R

  # Validate what a generator prints, as JSON for tooling
  kustomize build overlays/prod | kubectl mesh validate -f - -o json

  # SARIF for GitHub code scanning
  kubectl mesh validate -f deploy/ -R -o sarif > mesh.sarif

  # Resolve references against the live cluster too
  kubectl mesh validate -f canary.yaml --cluster`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Filenames, "filename", "f", nil, "File, directory or - (stdin) to validate; repeatable")
	f.BoolVarP(&o.Recursive, "recursive", "R", false, "Descend into subdirectories of directory arguments")
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text, json or sarif")
	f.StringArrayVar(&o.PolicyDirs, "policy", nil, "Directory of extra Rego policies (packages defining a findings set); repeatable")
	f.StringVar(&o.ConfigFile, "config", "", "Config file: clusterDomain, rootNamespace and per-code severities (rules: {MESH0104: warning})")
	f.StringVar(&o.ClusterDomain, "cluster-domain", "", "Kubernetes cluster DNS domain (default cluster.local)")
	f.StringVar(&o.RootNamespace, "root-namespace", "", "Istio root namespace (default istio-system)")
	f.BoolVar(&o.Cluster, "cluster", false, "Also resolve references against the live cluster (files win over cluster objects)")
	return cmd
}

// Complete derives the namespace and settings from flags and config.
func (o *ValidateOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.namespace = explicitNamespace(cmd, o.env.flags)
	if o.ConfigFile != "" {
		s, err := policies.LoadConfig(o.ConfigFile)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("reading --config: %w", err)}
		}
		o.settings = s
	}
	o.settings = o.settings.Merge(policies.Settings{ClusterDomain: o.ClusterDomain, RootNamespace: o.RootNamespace})
	return nil
}

// Validate checks the flags.
func (o *ValidateOptions) Validate() error {
	if len(o.Filenames) == 0 {
		return usageError("at least one -f PATH is required (a file, a directory, or - for stdin)")
	}
	if !slices.Contains(report.Formats(), o.Output) {
		return usageError("--output must be text, json or sarif, not %q", o.Output)
	}
	return nil
}

// validateGCPercent is the collector's target while validating.
const validateGCPercent = 75

// Run loads the inputs, builds the inventory, evaluates the policies and
// prints the report; findings of severity error make it exit 1.
func (o *ValidateOptions) Run(ctx context.Context) error {
	// A validate run builds garbage fast (facts and inputs of every
	// object) around a heap that only grows: collecting at 75% growth
	// rather than 100% keeps the peak of a 10,000-Service fleet under
	// 200 MB for a few percent of CPU (docs/BENCHMARKS.md). An explicit
	// GOGC wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(validateGCPercent))
	}
	// Objects under review keep only what the built-in policies read,
	// unless user policies, which read them as written, are given.
	change := policies.Change{
		Files:       o.Filenames,
		Load:        policies.LoadOptions{Recursive: o.Recursive, DefaultNamespace: o.namespace, Stdin: o.In},
		KeepObjects: len(o.PolicyDirs) > 0,
	}
	if o.Cluster {
		client, err := o.env.dynamic()
		if err != nil {
			return fmt.Errorf("connecting to the cluster: %w", err)
		}
		if change.Live, err = policies.ListCluster(ctx, client); err != nil {
			return err
		}
	}
	outcome, err := policies.CompileAndCheck(ctx, policies.Options{Settings: o.settings, PolicyDirs: o.PolicyDirs}, change)
	var ie *policies.InputError
	var pe *policies.PolicyError
	if errors.As(err, &ie) || errors.As(err, &pe) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if err != nil {
		return err
	}
	if err := report.Write(o.Out, o.Output, report.Report{Findings: outcome.Findings, Resources: outcome.Resources}, Version); err != nil {
		return err
	}
	if policies.CountErrors(outcome.Findings) > 0 {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}
