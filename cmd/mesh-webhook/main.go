// Command mesh-webhook is kubectl-mesh's validating admission webhook.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubectl-mesh/kubectl-mesh/webhook"
)

func main() {
	var o webhook.Options
	fs := flag.NewFlagSet("mesh-webhook", flag.ExitOnError)
	o.BindFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if _, set := os.LookupEnv("GOGC"); !set {
		o.SyncedGCPercent = webhook.GCPercent
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	// The chart passes the container's memory limit in MEMORY_LIMIT (and
	// the share of it in MEMORY_LIMIT_PERCENT); GOMEMLIMIT, when set, wins.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		limit, err := webhook.SoftMemoryLimit(os.Getenv("MEMORY_LIMIT"), os.Getenv("MEMORY_LIMIT_PERCENT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "mesh-webhook:", err)
			os.Exit(2)
		}
		if limit > 0 {
			debug.SetMemoryLimit(limit)
			ctrl.Log.Info("soft memory limit set", "GOMEMLIMIT", limit)
		}
	}
	if err := webhook.Run(ctrl.SetupSignalHandler(), o); err != nil {
		fmt.Fprintln(os.Stderr, "mesh-webhook:", err)
		os.Exit(1)
	}
}
