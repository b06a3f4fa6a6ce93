package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadjob"
)

// Defaults of `kubectl mesh load`: fortio's own (`fortio load`), so that a
// run compares with the Istio docs that use fortio.
const (
	defaultLoadConnections = loadgen.DefaultConcurrency // -c 4
	defaultLoadQPS         = 8.0                        // --qps 8; 0 is max speed
	defaultLoadDuration    = loadgen.DefaultDuration    // -t 5s
	defaultLoadTimeout     = loadgen.DefaultTimeout     // --timeout 3s
)

// LoadOptions holds `kubectl mesh load` flags and what Complete derives
// from them.
type LoadOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	URL         string
	Connections int
	Requests    int64
	Duration    time.Duration
	QPS         float64
	// LogLevel is Fortio's -loglevel: from Warning up, the progress lines
	// of an --in-cluster run are not printed.
	LogLevel           string
	Headers            []string
	Timeout            time.Duration
	AllowInitialErrors bool
	Output             string
	InCluster          bool
	Image              string
	JobTimeout         time.Duration
	DryRun             string

	requestsSet bool
	durationSet bool
	engine      loadgen.Options
	dryRun      apply.DryRun
}

// NewLoadOptions returns options with defaults that reach the cluster
// kubectl's flags select.
func NewLoadOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *LoadOptions {
	return &LoadOptions{
		env:         &commandEnv{flags: configFlags},
		IOStreams:   streams,
		Connections: defaultLoadConnections,
		Duration:    defaultLoadDuration,
		QPS:         defaultLoadQPS,
		Timeout:     defaultLoadTimeout,
		Output:      "text",
	}
}

func newLoadCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewLoadOptions(env.flags, streams)
	o.env = env
	cmd := &cobra.Command{
		Use:   "load URL [-c N] [-n N | -t D] [--qps Q] [-H 'Name: value'] [-o text|json]",
		Short: "Send HTTP load to a URL with the Fortio engine and report latencies and return codes",
		Long: `Load a URL with Fortio's engine, built into kubectl-mesh, from where kubectl
runs (through the ingress gateway, for one): -c connections share the calls,
for -n calls exactly or for -t of time, at --qps requests per second in total
(0: as fast as the target answers).

The report is Fortio's: the latency histogram and its percentiles, how many
calls got each HTTP status ("Code 503 : 4 (20.0 %)"; -1 counts calls that
got no response: refused, reset, timed out), and the sockets used. -o json
prints Fortio's result JSON (RetCodes, DurationHistogram, ActualQPS, ...).
Defaults are fortio's: -c 4, --qps 8, -t 5s, --timeout 3s. A URL without a
scheme gets http://. As in fortio, at a set rate -c is lowered so that each
connection makes at least 2 of the -n calls. Runs of -t make one warm-up call
per connection first, which must answer 2xx unless --allow-initial-errors;
-n runs make none. Ctrl-C stops the run and prints what was measured.

A DestinationRule's connection pool and outlier detection are enforced by
the calling sidecar, so load from outside the mesh (a laptop through a
port-forward) does not exercise them. --in-cluster runs the load from inside
the mesh instead: a Job in the namespace (--namespace) with the sidecar
injected runs Fortio's image (--image, fortio/fortio at the version the
engine embeds), its result comes back through the pod's log and prints like
a local run, and the Job is deleted afterwards, also on Ctrl-C. The URL is
then as seen from that namespace (http://httpbin:8000/get).
--dry-run=client prints the Job instead of running it.

Exit status: 0 when the run completed, whatever status codes came back (503s
from a circuit breaker are data); 1 when it could not be done (the host does
not resolve, the warm-up failed, or no call got any response); 2 for bad
flags or a malformed URL.`,
		Example: `  # 20 calls on 2 connections as fast as they answer (Istio's circuit-breaker demo)
  kubectl mesh load http://$GATEWAY_URL/productpage -c 2 -n 20 --qps 0

  # 2 seconds at 20 requests per second, as user jason (header-based routing)
  kubectl mesh load http://$GATEWAY_URL/productpage -t 2s --qps 20 -H "end-user: jason"

  # Fortio's JSON result, for tooling
  kubectl mesh load http://$GATEWAY_URL/productpage -n 100 --qps 0 -o json > result.json

  # From inside the mesh, where httpbin's circuit breaker applies
  kubectl mesh load http://httpbin:8000/get --in-cluster --namespace default -c 2 -n 20 --qps 0

  # The Job that would run, without running it
  kubectl mesh load http://httpbin:8000/get --in-cluster -c 2 -n 20 --qps 0 --dry-run=client`,
		Args: cobra.ExactArgs(1),
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.IntVarP(&o.Connections, "connections", "c", o.Connections, "Number of connections, each making its share of the calls")
	f.Int64VarP(&o.Requests, "requests", "n", 0, "Make exactly this many calls (instead of running for -t)")
	f.DurationVarP(&o.Duration, "duration", "t", o.Duration, "How long to run when -n is not given; 0 runs until Ctrl-C")
	f.Float64Var(&o.QPS, "qps", o.QPS, "Target requests per second across all connections; 0 for as fast as possible")
	f.StringVar(&o.LogLevel, "loglevel", "Info", "Fortio's log level ("+strings.Join(fortioLogLevels, ", ")+"); from Warning up, --in-cluster progress lines are not printed")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, "Extra header 'Name: value' on every call; repeatable ('Host: x' overrides the host)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "Timeout of each call, connect included")
	f.BoolVar(&o.AllowInitialErrors, "allow-initial-errors", false, "Go on when the warm-up calls of a -t run do not answer 2xx")
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text or json (Fortio's result JSON)")
	f.BoolVar(&o.InCluster, "in-cluster", false, "Run the load from a Job in the mesh namespace (sidecar injected) instead of from here")
	f.StringVar(&o.Image, "image", loadjob.DefaultImage, "Fortio image of the --in-cluster Job")
	f.DurationVar(&o.JobTimeout, "job-timeout", 0, "How long the --in-cluster Job may take in all, image pull included (default: the run's length plus 2 minutes)")
	f.StringVar(&o.DryRun, "dry-run", "none", "With --in-cluster: client prints the Job, server has the API server check it; neither runs it")
	// -n is the number of calls here, as in fortio and the command-line
	// contract: a local --namespace without shorthand keeps cobra from
	// merging kubectl's -n/--namespace into this command.
	f.StringVar(env.flags.Namespace, "namespace", *env.flags.Namespace,
		"If present, the namespace scope for this CLI request (-n is the number of calls in this command)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(env)) // the local flag needs its own
	return cmd
}

// Complete records the URL and which of -n and -t were given.
func (o *LoadOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.URL = args[0]
	}
	o.requestsSet = cmd.Flags().Changed("requests")
	o.durationSet = cmd.Flags().Changed("duration")
	return nil
}

// Validate checks the flags and the URL's syntax and builds the engine's
// options.
func (o *LoadOptions) Validate() error {
	target, err := loadgen.ValidateURL(o.URL)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if o.requestsSet && o.durationSet {
		return usageError("-n (number of calls) and -t (duration) are mutually exclusive")
	}
	if o.Connections < 1 {
		return usageError("-c must be at least 1, not %d", o.Connections)
	}
	if o.requestsSet && o.Requests < 1 {
		return usageError("-n must be at least 1, not %d", o.Requests)
	}
	if o.Duration < 0 {
		return usageError("-t must not be negative, not %v (0 runs until Ctrl-C)", o.Duration)
	}
	if o.QPS < 0 {
		return usageError("--qps must not be negative, not %g (0 is as fast as possible)", o.QPS)
	}
	if logLevelRank(o.LogLevel) < 0 {
		return usageError("--loglevel %q is not one of %s", o.LogLevel, strings.Join(fortioLogLevels, ", "))
	}
	if err := validateHTTPFlags(o.Timeout, o.Headers, o.Output); err != nil {
		return err
	}
	mode, err := apply.ParseDryRun(o.DryRun)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	o.dryRun = mode
	if !o.InCluster && (mode != apply.DryRunNone || o.JobTimeout != 0) {
		return usageError("--dry-run and --job-timeout go with --in-cluster")
	}
	if o.InCluster && !o.requestsSet && o.Duration == 0 {
		return usageError("--in-cluster needs -n or a -t above 0: a Job cannot run until Ctrl-C")
	}
	if o.JobTimeout < 0 {
		return usageError("--job-timeout must not be negative, not %v", o.JobTimeout)
	}
	o.engine = loadgen.Options{
		URL:                target,
		Concurrency:        o.Connections,
		QPS:                o.QPS,
		Headers:            o.Headers,
		Timeout:            o.Timeout,
		AllowInitialErrors: o.AllowInitialErrors,
		Labels:             loadLabels(target),
	}
	if o.requestsSet {
		o.engine.Exactly = o.Requests
	} else {
		o.engine.Duration = o.Duration
		if o.Duration == 0 {
			o.engine.Duration = -1 // until interrupted
		}
	}
	return nil
}

// loadLabels are fortio's default labels: the URL without its scheme and
// the host name of the machine.
func loadLabels(target string) string {
	short := target
	if i := strings.Index(short, "://"); i >= 0 {
		short = short[i+3:]
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return short + " , " + host
}

// Run loads the URL, prints the report and maps the outcome to the exit
// code: 1 only when no call got an HTTP response or the run could not start.
func (o *LoadOptions) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if o.InCluster {
		return o.runInCluster(ctx)
	}
	res, err := loadgen.Run(ctx, o.engine)
	if err != nil {
		if errors.Is(err, loadgen.ErrWarmup) {
			err = fmt.Errorf("%w (--allow-initial-errors goes on anyway)", err)
		}
		return fmt.Errorf("loading %s: %w", o.engine.URL, err)
	}
	return o.report(res)
}

// report prints a run and maps its outcome to the exit code.
func (o *LoadOptions) report(res *loadgen.Result) error {
	var err error
	if o.Output == "json" {
		err = writeLoadJSON(o.Out, res)
	} else {
		err = writeLoadText(o.Out, o.engine.URL, res)
	}
	if err != nil {
		return err
	}
	calls := res.DurationHistogram.Count
	if loadgen.Responses(res) == 0 {
		if calls == 0 {
			return &ExitError{Code: ExitFailed, Err: errors.New("no call was made")}
		}
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("none of the %d calls to %s got a response (refused, reset or timed out)", calls, o.engine.URL)}
	}
	return nil
}

// writeLoadJSON prints the result as fortio does (json -): indented, with
// a final newline.
func writeLoadJSON(w io.Writer, res *loadgen.Result) error {
	return printJSON(w, res)
}

// writeLoadText prints fortio's summary of a run.
func writeLoadText(w io.Writer, target string, res *loadgen.Result) error {
	var b strings.Builder
	qps := res.RequestedQPS + " qps"
	fmt.Fprintf(&b, "Target: %s\n", target)
	engine := "Fortio"
	if v := res.Version; v != "" && !strings.Contains(v, " ") { // "... not found in buildinfo" in tests
		engine += " " + v
	}
	fmt.Fprintf(&b, "%s load: %d connection(s), %s, %s\n", engine, res.NumThreads, qps, res.RequestedDuration)
	fmt.Fprintf(&b, "Ended after %v : %d calls. qps=%.5g\n", res.ActualDuration, res.DurationHistogram.Count, res.ActualQPS)
	res.DurationHistogram.Print(&b, "Aggregated Function Time")
	res.ErrorsDurationHistogram.Print(&b, "Error cases")
	if ps := res.DurationHistogram.Percentiles; len(ps) > 0 {
		b.WriteString("Latency (ms):")
		for i, p := range ps {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s p%g %.4g", sep, p.Percentile, 1000*p.Value)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Sockets used: %d (for perfect keepalive, would be %d)\n", res.SocketCount, res.NumThreads)
	codes := make([]int, 0, len(res.RetCodes))
	for c := range res.RetCodes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	total := float64(res.DurationHistogram.Count)
	for _, c := range codes {
		fmt.Fprintf(&b, "Code %3d : %d (%.1f %%)\n", c, res.RetCodes[c], 100*float64(res.RetCodes[c])/total)
	}
	warmup := res.NumThreads
	if res.Exactly > 0 {
		warmup = 0
	}
	fmt.Fprintf(&b, "All done %d calls (plus %d warmup) %.3f ms avg, %.1f qps\n",
		res.DurationHistogram.Count, warmup, 1000*res.DurationHistogram.Avg, res.ActualQPS)
	_, err := io.WriteString(w, b.String())
	return err
}

// runInCluster runs the load from a Job in the namespace and prints its
// result as a local run's.
func (o *LoadOptions) runInCluster(ctx context.Context) error {
	ns, err := o.env.namespace()
	if err != nil {
		return err
	}
	opts := loadjob.Options{Namespace: ns, Image: o.Image, Load: o.engine, Wait: o.JobTimeout}
	if o.dryRun == apply.DryRunClient {
		format := "yaml"
		if o.Output == "json" {
			format = "json"
		}
		return printObject(o.Out, format, loadjob.Job(opts))
	}
	kube, err := o.env.kube()
	if err != nil {
		return err
	}
	if o.dryRun == apply.DryRunServer {
		job, err := kube.BatchV1().Jobs(ns).Create(ctx, loadjob.Job(opts), metav1.CreateOptions{FieldManager: FieldManager, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("creating the load Job in namespace %s: %w", ns, err)}
		}
		job.ManagedFields = nil
		return printObject(o.Out, "yaml", job)
	}
	if logLevelRank(o.LogLevel) < logLevelRank("Warning") {
		opts.Progress = func(format string, args ...any) { fmt.Fprintf(o.ErrOut, format+"\n", args...) }
	}
	out, err := loadjob.Run(ctx, kube, opts)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("in-cluster load of %s: %w", o.engine.URL, err)}
	}
	if !out.Sidecar {
		fmt.Fprintf(o.ErrOut, "Warning: pod/%s ran without Istio's sidecar (is injection enabled in namespace %s?): the calls bypassed the mesh's client-side policies\n", out.Pod, ns)
	}
	return o.report(out.Result)
}

// fortioLogLevels are Fortio's -loglevel values, lowest first.
var fortioLogLevels = []string{"Debug", "Verbose", "Info", "Warning", "Error", "Critical", "Fatal"}

// logLevelRank is a level's place in fortioLogLevels (any case), -1 for none.
func logLevelRank(level string) int {
	for i, l := range fortioLogLevels {
		if strings.EqualFold(l, level) {
			return i
		}
	}
	return -1
}
