// Command kubectl-mesh is the `kubectl mesh` plugin.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud provider logins

	"github.com/kubectl-mesh/kubectl-mesh/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := plugin.NewRootCommand(streams, os.Args[0])
	if err := cmd.Execute(); err != nil {
		if !plugin.Silent(err) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(plugin.ExitCode(err))
	}
}
