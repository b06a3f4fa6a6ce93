// Command kubectl-mesh is the `kubectl mesh` plugin.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud provider logins

	"github.com/kubectl-mesh/kubectl-mesh/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	// Ctrl-C cancels the context: waits stop, port-forwards and load runs
	// end, and in-cluster load Jobs are cleaned up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := plugin.NewRootCommand(streams, os.Args[0])
	cmd.SetContext(ctx)
	err := cmd.Execute()
	stop()
	if err != nil {
		if !plugin.Silent(err) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(plugin.ExitCode(err))
	}
}
