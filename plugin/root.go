// Package plugin holds the `kubectl mesh` commands: cobra and cli-runtime
// plumbing around the engines in policies/ and the other packages.
package plugin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewRootCommand builds `kubectl mesh` with every subcommand. argv0 is the
// program name, so usage says "kubectl mesh" when kubectl runs the plugin.
func NewRootCommand(streams genericiooptions.IOStreams, argv0 string) *RootCommand {
	return newRootCommand(streams, argv0, commandEnv{})
}

// commandEnv is what commands take from their surroundings; tests replace
// it with fakes. Zero fields mean the real thing.
type commandEnv struct {
	// clients replaces the clients built from kubectl's flags.
	clients meshClients
	// now replaces the clock.
	now func() time.Time
}

// newRootCommand builds the root command in an environment.
func newRootCommand(streams genericiooptions.IOStreams, argv0 string, env commandEnv) *RootCommand {
	configFlags := genericclioptions.NewConfigFlags(true)
	if env.clients == nil {
		env.clients = clientsFor(configFlags)
	}
	if env.now == nil {
		env.now = time.Now
	}
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
		newValidateCommand(configFlags, streams),
		newInjectCommand(configFlags, streams),
		newWebhookCommand(configFlags, streams),
		newLoadCommand(configFlags, streams, env),
		newCanaryCommand(configFlags, streams, env),
		newResilienceCommand(configFlags, streams, env),
		newBookinfoCommand(configFlags, streams, env),
		newSampleCommand(configFlags, streams, env),
		newIngressCommand(configFlags, streams, env),
		newInstallCommand(configFlags, streams),
		newUninstallCommand(configFlags, streams),
		newMeshStatusCommand(configFlags, streams),
	)
	cmd.AddCommand(newCompletionCommand(streams))
	if err := registerFlagCompletions(cmd, configFlags); err != nil {
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

// argsOptions is kubectl's command shape: options that complete themselves
// from the arguments, check themselves, then run.
type argsOptions interface {
	Complete(args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runOptions is the RunE of a command whose options have that shape.
func runOptions(o argsOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}
