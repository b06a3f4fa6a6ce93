package plugin

import (
	"encoding/json"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
)

// addApplyFlags adds --dry-run and -o to a command that changes the
// cluster (the command-line contract, README.md).
func addApplyFlags(f *pflag.FlagSet, dryRun, output *string) {
	f.StringVar(dryRun, "dry-run", *dryRun, "none, client (print only) or server (the API server checks, nothing is stored)")
	f.StringVarP(output, "output", "o", *output, "Print the objects as applied: yaml or json")
}

// The traffic APIs the commands that route write: Istio's own, or the
// Kubernetes Gateway API that Istio implements too.
const (
	apiIstio   = "istio"
	apiGateway = "gateway"
)

// addAPIFlag adds --api to a command that writes routing config.
func addAPIFlag(cmd *cobra.Command, api *string, gatewayObjects string) {
	*api = apiIstio
	cmd.Flags().StringVar(api, "api", *api, "Routing API to write: istio, or gateway for the Kubernetes Gateway API ("+gatewayObjects+")")
	_ = cmd.RegisterFlagCompletionFunc("api", cobra.FixedCompletions([]string{
		apiIstio + "\tIstio's Gateway, VirtualService and DestinationRule",
		apiGateway + "\tthe Kubernetes Gateway API: Gateway and HTTPRoute",
	}, cobra.ShellCompDirectiveNoFileComp))
}

// validateAPI checks an --api value.
func validateAPI(api string) error {
	switch api {
	case apiIstio, apiGateway:
		return nil
	}
	return usageError("--api must be istio or gateway, not %q", api)
}

// validateHTTPFlags checks the flags of the commands that send requests:
// the per-request timeout, -H headers and a text or json report.
func validateHTTPFlags(timeout time.Duration, headers []string, output string) error {
	if timeout <= 0 {
		return usageError("--timeout must be positive, not %v", timeout)
	}
	for _, h := range headers {
		if err := loadgen.ValidateHeader(h); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	switch output {
	case "text", "json":
	default:
		return usageError("--output must be text or json, not %q", output)
	}
	return nil
}

// printJSON writes v as indented JSON and a newline: the -o json of every
// command.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
