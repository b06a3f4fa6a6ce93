package plugin

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
)

// addApplyFlags adds --dry-run and -o to a command that changes the
// cluster (the command-line contract, README.md).
func addApplyFlags(f *pflag.FlagSet, dryRun, output *string) {
	f.StringVar(dryRun, "dry-run", *dryRun, "none, client (print only) or server (the API server checks, nothing is stored)")
	f.StringVarP(output, "output", "o", *output, "Print the objects as applied: yaml or json")
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
