// Package plugin holds the `kubectl mesh` commands: cobra and cli-runtime
// plumbing around the engines in policies/ and the other packages.
package plugin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewRootCommand builds `kubectl mesh` with every subcommand. argv0 is the
// program name, so usage says "kubectl mesh" when kubectl runs the plugin.
func NewRootCommand(streams genericiooptions.IOStreams, argv0 string) *RootCommand {
	return newRootCommand(streams, argv0, &commandEnv{})
}

// newRootCommand builds the root command in an environment, whose flags
// become kubectl's flags of the root; every command shares it.
func newRootCommand(streams genericiooptions.IOStreams, argv0 string, env *commandEnv) *RootCommand {
	configFlags := genericclioptions.NewConfigFlags(true)
	env.flags = configFlags
	cmd := &cobra.Command{
		Use:   "kubectl-mesh",
		Short: "Install Istio, release canaries, harden services and validate Istio traffic config",
		Long: `kubectl mesh drives the Istio workflow from kubectl: install the control plane,
deploy and expose Bookinfo, shift traffic between versions, add circuit breakers,
timeouts, retries and faults, load-test them, and validate Istio traffic
configuration offline (in CI) with the same policies the admission webhook runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Cobra reports unknown commands and wrong arguments before any hook
	// runs; errors from before the hooks are usage errors (exit 2).
	started := false
	cmd.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	if strings.HasPrefix(filepath.Base(argv0), "kubectl-") || strings.HasPrefix(filepath.Base(argv0), "kubectl_") {
		cmd.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl mesh"}
	}
	configFlags.AddFlags(cmd.PersistentFlags())
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: withDoubleDashHint(c, err)}
	})
	cmd.AddCommand(
		newVersionCommand(streams),
		newValidateCommand(env, streams),
		newInjectCommand(env, streams),
		newWebhookCommand(env, streams),
		newLoadCommand(env, streams),
		newCanaryCommand(env, streams),
		newResilienceCommand(env, streams),
		newBookinfoCommand(env, streams),
		newSampleCommand(env, streams),
		newIngressCommand(env, streams),
		newInstallCommand(env, streams),
		newUninstallCommand(env, streams),
		newMeshStatusCommand(env, streams),
	)
	cmd.AddCommand(newCompletionCommand(streams))
	if err := registerFlagCompletions(cmd, env); err != nil {
		panic(err) // a programming error: ConfigFlags added these flags above
	}
	return &RootCommand{Command: cmd, started: &started}
}

// RootCommand is the root command, knowing whether a subcommand got to run.
type RootCommand struct {
	*cobra.Command
	started *bool
}

// Execute runs the command line; errors cobra raised before a command ran
// (unknown command, wrong arguments) become usage errors.
func (r *RootCommand) Execute() error {
	err := r.Command.Execute()
	if err != nil && !*r.started {
		var ee *ExitError
		if !errors.As(err, &ee) {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	return err
}

// commandOptions is kubectl's command shape, every command's: options
// that complete themselves from the command line (which flags were given,
// the arguments), check themselves, then run.
type commandOptions interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runOptions is the RunE of every command that does more than print help.
func runOptions(o commandOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		// Run always gets a context: Execute without one leaves it nil.
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		return o.Run(ctx)
	}
}
