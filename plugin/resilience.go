package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadjob"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/resilience"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

func newResilienceCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resilience circuit-breaker|timeout|retry|fault|clear HOST",
		Short: "Add circuit breakers, timeouts, retries and injected faults to a host",
		Long: `Harden the traffic to HOST (a Service's short name in the namespace, or a fully
qualified host): a circuit breaker on its DestinationRule (connection pool and
outlier detection), and a timeout, a retry policy or injected faults on the
http routes of its VirtualService. Changes merge into the existing objects:
the DestinationRule by server-side apply (field manager kubectl-mesh) of only
the settings given, so fields other tools set stay theirs; the VirtualService
by rewriting its http routes, which Istio's schema makes one atomic list, with
everything else in them kept. A DestinationRule or VirtualService is created
when the host has none. Each change is checked with the webhook's policies
before it is applied.

timeout, retry and clear take --api gateway to change the Kubernetes Gateway
API's HTTPRoute whose parent is the Service HOST instead (created when there is
none): the rules' timeouts.request, and their retry (attempts, backoff, codes)
where the installed HTTPRoute CRD has that field (its experimental channel).

--verify then sends load to --url and reports whether it shows what the
change should: 503s from the circuit breaker, 504s near the timeout, calls
that take at least the injected delay, the share of injected aborts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, action := range []string{"circuit-breaker", "timeout", "retry", "fault", "clear"} {
		cmd.AddCommand(newResilienceActionCommand(env, streams, action))
	}
	return cmd
}

// ResilienceOptions holds the flags of `kubectl mesh resilience ACTION HOST`.
type ResilienceOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Action         string
	Host           string
	VirtualService string
	Route          string
	API            string
	DryRun         string
	Output         string

	// circuit-breaker
	MaxConnections           int64
	HTTP1MaxPendingRequests  int64
	MaxRequestsPerConnection int64
	ConsecutiveGatewayErrors int64
	Consecutive5xxErrors     int64
	Interval                 string
	BaseEjectionTime         string
	MaxEjectionPercent       int64
	// timeout
	Timeout string
	// retry
	Attempts      int64
	PerTryTimeout string
	RetryOn       string
	Backoff       string  // --api gateway
	Codes         []int64 // --api gateway
	// fault
	Delay        string
	DelayPercent float64
	Abort        int64
	AbortPercent float64
	// clear
	What []string

	// --verify
	Verify bool
	// Replace drops the route's other resilience settings (timeout,
	// retries, fault) instead of keeping them.
	Replace     bool
	URL         string
	Connections int
	Requests    int64
	VerifyWait  time.Duration
	InCluster   bool
	Image       string

	namespace   string
	flags       *pflag.FlagSet
	dryRun      apply.DryRun
	expectation resilience.Expectation
	cb          resilience.CircuitBreaker
}

var resilienceDocs = map[string]struct{ use, short, example string }{
	"circuit-breaker": {
		"circuit-breaker HOST [--max-connections N] [--http1-max-pending-requests N] [--max-requests-per-connection N] [--consecutive-gateway-errors N] [--interval D] [--base-ejection-time D] [--max-ejection-percent N]",
		"Limit connections and eject failing endpoints (DestinationRule trafficPolicy)",
		`  # Istio's circuit-breaking task for httpbin
  kubectl mesh resilience circuit-breaker httpbin --max-connections 1 --http1-max-pending-requests 1 --max-requests-per-connection 1 --consecutive-gateway-errors 1 --interval 1s --base-ejection-time 3m --max-ejection-percent 100

  # ... and prove it from inside the mesh: some 503s at 2 connections
  kubectl mesh resilience circuit-breaker httpbin --max-connections 1 --verify --in-cluster --url http://httpbin:8000/get`,
	},
	"timeout": {
		"timeout HOST DURATION",
		"Give up on requests to a host after a time (VirtualService http timeout)",
		`  kubectl mesh resilience timeout nginx-svc 2s
  kubectl mesh resilience timeout nginx-svc 2s --verify --url http://$NGINX_URL/

  # The HTTPRoute of reviews: timeouts.request of its rules
  kubectl mesh resilience timeout reviews 500ms -n bookinfo --api gateway`,
	},
	"retry": {
		"retry HOST --attempts N [--per-try-timeout D] [--retry-on CONDITIONS] | --api gateway [--attempts N] [--backoff D] [--codes C,...]",
		"Retry failed requests to a host (VirtualService http retries, HTTPRoute retry)",
		`  kubectl mesh resilience retry nginx-svc --attempts 3 --per-try-timeout 2s
  kubectl mesh resilience retry ratings -n bookinfo --attempts 2 --retry-on 5xx,reset

  # The HTTPRoute of ratings (a Gateway API whose HTTPRoute has retry)
  kubectl mesh resilience retry ratings -n bookinfo --api gateway --attempts 2 --backoff 100ms --codes 503,504 --dry-run=client`,
	},
	"fault": {
		"fault HOST [--delay D [--delay-percent P]] [--abort CODE [--abort-percent P]]",
		"Inject delays or errors into requests to a host (VirtualService http fault)",
		`  kubectl mesh resilience fault tomcat-svc --delay 10s
  kubectl mesh resilience fault tomcat-svc --abort 503 --abort-percent 100
  kubectl mesh resilience fault ratings -n bookinfo --delay 7s --delay-percent 50 --dry-run=client -o yaml`,
	},
	"clear": {
		"clear HOST [--what circuit-breaker,timeout,retry,fault]",
		"Remove circuit breakers, timeouts, retries or faults from a host",
		`  kubectl mesh resilience clear tomcat-svc --what fault
  kubectl mesh resilience clear httpbin
  kubectl mesh resilience clear reviews -n bookinfo --api gateway`,
	},
}

func newResilienceActionCommand(env *commandEnv, streams genericiooptions.IOStreams, action string) *cobra.Command {
	o := &ResilienceOptions{
		env: env, IOStreams: streams, Action: action, DryRun: "none", API: apiIstio,
		DelayPercent: 100, AbortPercent: 100, What: resilience.AllSettings,
		Image: loadjob.DefaultImage, VerifyWait: 5 * time.Second,
	}
	doc := resilienceDocs[action]
	args := cobra.ExactArgs(1)
	if action == "timeout" {
		args = cobra.ExactArgs(2)
	}
	cmd := &cobra.Command{
		Use:     doc.use,
		Short:   doc.short,
		Example: doc.example,
		Args:    args,
		// HOST from the namespace's Services; timeout's DURATION is typed.
		ValidArgsFunction: completeArgs(completeServices(env)),
		RunE:              runOptions(o),
	}
	if action == "clear" {
		cmd.Long = `Remove the settings --what names (default all) from the http routes of HOST's
VirtualService and the trafficPolicy of its DestinationRule, whoever set them.
An object kubectl mesh created for the host (labelled
app.kubernetes.io/managed-by=kubectl-mesh) that is left with nothing else,
no other field manager, label or annotation, is deleted rather than left
behind empty. With --api gateway, the timeouts and retry of the rules of
HOST's HTTPRoute (--what timeout,retry), likewise.`
	}
	f := cmd.Flags()
	switch action {
	case "circuit-breaker":
		f.Int64Var(&o.MaxConnections, "max-connections", 0, "trafficPolicy.connectionPool.tcp.maxConnections")
		f.Int64Var(&o.HTTP1MaxPendingRequests, "http1-max-pending-requests", 0, "trafficPolicy.connectionPool.http.http1MaxPendingRequests")
		f.Int64Var(&o.MaxRequestsPerConnection, "max-requests-per-connection", 0, "trafficPolicy.connectionPool.http.maxRequestsPerConnection")
		f.Int64Var(&o.ConsecutiveGatewayErrors, "consecutive-gateway-errors", 0, "trafficPolicy.outlierDetection.consecutiveGatewayErrors (502, 503, 504)")
		f.Int64Var(&o.Consecutive5xxErrors, "consecutive-5xx-errors", 0, "trafficPolicy.outlierDetection.consecutive5xxErrors")
		f.StringVar(&o.Interval, "interval", "", "trafficPolicy.outlierDetection.interval, e.g. 1s")
		f.StringVar(&o.BaseEjectionTime, "base-ejection-time", "", "trafficPolicy.outlierDetection.baseEjectionTime, e.g. 3m")
		f.Int64Var(&o.MaxEjectionPercent, "max-ejection-percent", 0, "trafficPolicy.outlierDetection.maxEjectionPercent, 0 to 100")
	case "retry":
		f.Int64Var(&o.Attempts, "attempts", 0, "Number of retries (retries.attempts)")
		f.StringVar(&o.PerTryTimeout, "per-try-timeout", "", "Timeout of each attempt, e.g. 2s (retries.perTryTimeout)")
		f.StringVar(&o.RetryOn, "retry-on", "", "Conditions to retry on, e.g. 5xx,gateway-error,reset (retries.retryOn)")
		f.StringVar(&o.Backoff, "backoff", "", "With --api gateway: least time between attempts, e.g. 100ms (retry.backoff)")
		f.Int64SliceVar(&o.Codes, "codes", nil, "With --api gateway: HTTP statuses to retry, e.g. 503,504 (retry.codes)")
	case "fault":
		f.StringVar(&o.Delay, "delay", "", "Delay requests by this long, e.g. 10s (fault.delay.fixedDelay)")
		f.Float64Var(&o.DelayPercent, "delay-percent", o.DelayPercent, "Percent of requests delayed")
		f.Int64Var(&o.Abort, "abort", 0, "Answer requests with this HTTP status, e.g. 503 (fault.abort.httpStatus)")
		f.Float64Var(&o.AbortPercent, "abort-percent", o.AbortPercent, "Percent of requests aborted")
	case "clear":
		f.StringSliceVar(&o.What, "what", o.What, "What to remove: circuit-breaker, timeout, retry, fault")
	}
	if action != "circuit-breaker" {
		f.StringVar(&o.Route, "route", "", "Change only the http route of this name (default: every http route of the VirtualService)")
	}
	if action == "timeout" || action == "retry" || action == "fault" {
		f.BoolVar(&o.Replace, "replace", false, "Replace the route's resilience settings (timeout, retries, fault) with this one instead of adding it to them")
	}
	f.StringVar(&o.VirtualService, "virtual-service", "", "The VirtualService to change (default: the mesh VirtualService serving HOST, or a new one named after it)")
	if action == "timeout" || action == "retry" || action == "clear" {
		addAPIFlag(cmd, &o.API, "the HTTPRoute whose parent is the Service HOST")
	}
	addApplyFlags(f, &o.DryRun, &o.Output)
	if action != "clear" {
		f.BoolVar(&o.Verify, "verify", false, "Afterwards send load to --url and check that it shows the change")
		f.StringVar(&o.URL, "url", "", "URL that --verify loads (through the ingress gateway, or as seen in the namespace with --in-cluster)")
		f.IntVar(&o.Connections, "connections", 0, "Connections of the --verify load (default: what the change needs, 2 for a circuit breaker)")
		f.Int64Var(&o.Requests, "requests", 0, "Calls of the --verify load (default: what the change needs, 20 for a circuit breaker)")
		f.DurationVar(&o.VerifyWait, "verify-wait", o.VerifyWait, "How long to let the proxies receive the change before --verify loads")
		f.BoolVar(&o.InCluster, "in-cluster", false, "Run the --verify load from a Job in the namespace, through a sidecar (see kubectl mesh load --in-cluster)")
		f.StringVar(&o.Image, "image", o.Image, "Fortio image of the --in-cluster Job")
	}
	return cmd
}

// Complete reads the arguments, keeps the flag set (Validate asks which
// flags were given: 0 is a setting, not their absence) and resolves the
// namespace.
func (o *ResilienceOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Host = args[0]
	if o.Action == "timeout" {
		o.Timeout = args[1]
	}
	o.flags = cmd.Flags()
	ns, err := o.env.namespace()
	o.namespace = ns
	return err
}

// durationFlag checks an Istio duration (at least 1ms, as the CRD's
// validation requires) and returns it as written.
func durationFlag(name, value string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d < time.Millisecond {
		return 0, usageError("%s must be a duration of at least 1ms such as 500ms, 2s or 3m, not %q", name, value)
	}
	return d, nil
}

func percentFlag(name string, p float64) error {
	if p < 0 || p > 100 {
		return usageError("%s must be between 0 and 100, not %g", name, p)
	}
	return nil
}

// Validate checks the flags and derives what --verify expects.
func (o *ResilienceOptions) Validate() error {
	if o.Host == "" || o.Host == "*" || strings.ContainsAny(o.Host, " /*") {
		return usageError("HOST must be a Service name or a fully qualified host, not %q", o.Host)
	}
	mode, err := apply.ParseDryRun(o.DryRun)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	o.dryRun = mode
	if err := apply.ValidOutput(o.Output); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if err := validateAPI(o.API); err != nil {
		return err
	}
	if err := o.validateAction(); err != nil {
		return err
	}
	if err := o.validateGatewayAPI(); err != nil {
		return err
	}
	if !o.Verify {
		if o.URL != "" || o.InCluster {
			return usageError("--url and --in-cluster go with --verify")
		}
		return nil
	}
	if o.URL == "" {
		return usageError("--verify needs --url: where to send the load")
	}
	if _, err := loadgen.ValidateURL(o.URL); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--url: %w", err)}
	}
	if o.Connections < 0 || o.Requests < 0 || o.VerifyWait < 0 {
		return usageError("--connections, --requests and --verify-wait must not be negative")
	}
	if o.dryRun != apply.DryRunNone {
		return usageError("--verify loads the change once applied: it does not go with --dry-run")
	}
	return nil
}

func (o *ResilienceOptions) validateAction() error {
	switch o.Action {
	case "circuit-breaker":
		counts := []struct {
			flag  string
			value *int64
			field **int64
		}{
			{"max-connections", &o.MaxConnections, &o.cb.MaxConnections},
			{"http1-max-pending-requests", &o.HTTP1MaxPendingRequests, &o.cb.HTTP1MaxPendingRequests},
			{"max-requests-per-connection", &o.MaxRequestsPerConnection, &o.cb.MaxRequestsPerConnection},
			{"consecutive-gateway-errors", &o.ConsecutiveGatewayErrors, &o.cb.ConsecutiveGatewayErrors},
			{"consecutive-5xx-errors", &o.Consecutive5xxErrors, &o.cb.Consecutive5xxErrors},
			{"max-ejection-percent", &o.MaxEjectionPercent, &o.cb.MaxEjectionPercent},
		}
		for _, c := range counts {
			if !o.flags.Changed(c.flag) {
				continue
			}
			if *c.value < 0 || *c.value > 1<<31-1 {
				return usageError("--%s must be a whole number from 0, not %d", c.flag, *c.value)
			}
			*c.field = c.value
		}
		if o.MaxEjectionPercent > 100 {
			return usageError("--max-ejection-percent must be between 0 and 100, not %d", o.MaxEjectionPercent)
		}
		for flag, value := range map[string]string{"--interval": o.Interval, "--base-ejection-time": o.BaseEjectionTime} {
			if value == "" {
				continue
			}
			if _, err := durationFlag(flag, value); err != nil {
				return err
			}
		}
		o.cb.Interval, o.cb.BaseEjectionTime = o.Interval, o.BaseEjectionTime
		if o.cb.IsEmpty() {
			return usageError("give at least one setting, e.g. --max-connections 1")
		}
		o.expectation.CircuitBreaker = true
	case "timeout":
		d, err := durationFlag("the timeout", o.Timeout)
		if err != nil {
			return err
		}
		o.expectation.Timeout = d
	case "retry":
		if !o.flags.Changed("attempts") && o.PerTryTimeout == "" && o.RetryOn == "" && o.Backoff == "" && len(o.Codes) == 0 {
			return usageError("give at least one of --attempts, --per-try-timeout and --retry-on (--api gateway: --attempts, --backoff and --codes)")
		}
		if o.Attempts < 0 {
			return usageError("--attempts must not be negative, not %d", o.Attempts)
		}
		if o.PerTryTimeout != "" {
			if _, err := durationFlag("--per-try-timeout", o.PerTryTimeout); err != nil {
				return err
			}
		}
	case "fault":
		if o.Delay == "" && o.Abort == 0 {
			return usageError("give --delay, --abort or both")
		}
		if o.Delay != "" {
			d, err := durationFlag("--delay", o.Delay)
			if err != nil {
				return err
			}
			o.expectation.Delay, o.expectation.DelayPercent = d, o.DelayPercent
		}
		if o.Abort != 0 {
			if o.Abort < 200 || o.Abort > 599 {
				return usageError("--abort must be an HTTP status from 200 to 599, not %d", o.Abort)
			}
			o.expectation.AbortStatus, o.expectation.AbortPercent = int(o.Abort), o.AbortPercent
		}
		if err := percentFlag("--delay-percent", o.DelayPercent); err != nil {
			return err
		}
		if err := percentFlag("--abort-percent", o.AbortPercent); err != nil {
			return err
		}
	case "clear":
		if len(o.What) == 0 {
			return usageError("--what needs at least one of %s", strings.Join(resilience.AllSettings, ", "))
		}
		for _, w := range o.What {
			if !slices.Contains(resilience.AllSettings, w) {
				return usageError("--what: %q is not one of %s", w, strings.Join(resilience.AllSettings, ", "))
			}
		}
	}
	return nil
}

// validateGatewayAPI checks the flags that belong to one routing API only.
func (o *ResilienceOptions) validateGatewayAPI() error {
	if o.API != apiGateway {
		if o.Backoff != "" || len(o.Codes) > 0 {
			return usageError("--backoff and --codes are the Gateway API's retry settings: they go with --api gateway (Istio's are --per-try-timeout and --retry-on)")
		}
		return nil
	}
	if o.VirtualService != "" {
		return usageError("--virtual-service names a VirtualService; with --api gateway the HTTPRoute whose parent is the Service HOST is changed")
	}
	switch o.Action {
	case "timeout":
		if !resilience.GatewayDuration.MatchString(o.Timeout) {
			return usageError("the timeout must be a Gateway API duration such as 500ms, 2s or 1m30s, not %q", o.Timeout)
		}
	case "retry":
		if o.PerTryTimeout != "" || o.RetryOn != "" {
			return usageError("--per-try-timeout and --retry-on are Istio's retry settings; the Gateway API's are --attempts, --backoff and --codes")
		}
		if o.Backoff != "" && !resilience.GatewayDuration.MatchString(o.Backoff) {
			return usageError("--backoff must be a Gateway API duration such as 100ms or 1s, not %q", o.Backoff)
		}
		for _, c := range o.Codes {
			if c < 400 || c > 599 {
				return usageError("--codes must be HTTP statuses from 400 to 599, not %d", c)
			}
		}
	case "clear":
		if !o.flags.Changed("what") {
			o.What = []string{resilience.WhatTimeout, resilience.WhatRetry}
		}
		for _, w := range o.What {
			if w != resilience.WhatTimeout && w != resilience.WhatRetry {
				return usageError("--what %s: an HTTPRoute holds timeout and retry only (circuit breakers and faults are Istio's: clear them without --api gateway)", w)
			}
		}
	}
	return nil
}

// gatewaySteps computes the change of the host's HTTPRoute.
func (o *ResilienceOptions) gatewaySteps(t resilience.Target, s *resilience.State) ([]apply.Step, error) {
	switch o.Action {
	case "clear":
		return resilience.ClearRules(t, s, o.What)
	case "timeout":
		step, err := resilience.ChangeRules(t, s, "timeouts.request "+o.Timeout, resilience.RequestTimeout(o.Timeout), o.Replace)
		return []apply.Step{step}, err
	}
	r := resilience.RouteRetry{Backoff: o.Backoff, Codes: o.Codes}
	if o.flags.Changed("attempts") {
		r.Attempts = &o.Attempts
	}
	step, err := resilience.ChangeRules(t, s, "retry", resilience.SetRouteRetry(r), o.Replace)
	return []apply.Step{step}, err
}

// steps computes the change.
func (o *ResilienceOptions) steps(t resilience.Target, s *resilience.State) ([]apply.Step, error) {
	switch o.Action {
	case "circuit-breaker":
		return []apply.Step{resilience.SetCircuitBreaker(t, s, o.cb)}, nil
	case "clear":
		return resilience.Clear(t, s, o.What)
	}
	var change resilience.RouteChange
	var what string
	switch o.Action {
	case "timeout":
		change, what = resilience.Timeout(o.Timeout), "timeout "+o.Timeout
	case "retry":
		r := resilience.Retry{PerTryTimeout: o.PerTryTimeout, RetryOn: o.RetryOn}
		if o.flags.Changed("attempts") {
			r.Attempts = &o.Attempts
		}
		change, what = resilience.SetRetry(r), "retries"
	case "fault":
		change = resilience.SetFault(resilience.Fault{Delay: o.Delay, DelayPercent: o.DelayPercent, AbortStatus: o.Abort, AbortPercent: o.AbortPercent})
		var parts []string
		if o.Delay != "" {
			parts = append(parts, fmt.Sprintf("delay %s for %g%%", o.Delay, o.DelayPercent))
		}
		if o.Abort != 0 {
			parts = append(parts, fmt.Sprintf("abort %d for %g%%", o.Abort, o.AbortPercent))
		}
		what = "fault " + strings.Join(parts, ", ")
	}
	step, err := resilience.ChangeRoutes(t, s, what, change, o.Replace)
	return []apply.Step{step}, err
}

// Run computes the change, checks it with the policy core, applies it and
// verifies it under load when asked.
func (o *ResilienceOptions) Run(ctx context.Context) error {
	kube, dyn, err := o.env.clients()
	if err != nil {
		return err
	}
	target := resilience.Target{Namespace: o.namespace, Host: o.Host, VirtualService: o.VirtualService, Route: o.Route}
	load, plan := resilience.Load, o.steps
	if o.API == apiGateway {
		load, plan = resilience.LoadHTTPRoute, o.gatewaySteps
		if o.Action == "retry" {
			support, err := resilience.LoadRetrySupport(ctx, dyn)
			if err == nil {
				err = support.Check()
			}
			if err != nil {
				return resilienceError(err)
			}
		}
	}
	state, err := load(ctx, dyn, target)
	if err != nil {
		return resilienceError(err)
	}
	steps, err := plan(target, state)
	if err != nil {
		return resilienceError(err)
	}
	if len(steps) == 0 {
		_, err := fmt.Fprintf(o.ErrOut, "%s: nothing to clear (%s)\n", target.FQDN(), strings.Join(o.What, ", "))
		return err
	}
	var rules map[string]policies.Severity
	if o.Action == "circuit-breaker" {
		// The VirtualService commands refuse a host that resolves to
		// nothing (MESH0201); a DestinationRule for it is refused too.
		rules = map[string]policies.Severity{"MESH0202": policies.SeverityError}
	}
	if err := applyChange(ctx, o.IOStreams, dyn, o.dryRun, o.Output, steps, rules); err != nil {
		return err
	}
	if !o.Verify {
		return nil
	}
	return o.verify(ctx, kube)
}

func resilienceError(err error) error { return refusal(err, resilience.ErrRefused) }

// verify loads the URL and judges the run against the expectation.
func (o *ResilienceOptions) verify(ctx context.Context, kube kubernetes.Interface) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	c, n, timeout := o.expectation.Load()
	if o.Connections > 0 {
		c = o.Connections
	}
	if o.Requests > 0 {
		n = o.Requests
	}
	url, _ := loadgen.ValidateURL(o.URL)
	opts := loadgen.Options{URL: url, Concurrency: c, Exactly: n, Timeout: timeout}
	if o.VerifyWait > 0 {
		fmt.Fprintf(o.ErrOut, "waiting %v for the proxies to receive the change\n", o.VerifyWait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.VerifyWait):
		}
	}
	var res *loadgen.Result
	var err error
	if o.InCluster {
		var out *loadjob.Outcome
		out, err = loadjob.Run(ctx, kube, loadjob.Options{
			Namespace: o.namespace, Image: o.Image, Load: opts,
			Progress: func(format string, args ...any) { fmt.Fprintf(o.ErrOut, format+"\n", args...) },
		})
		if out != nil {
			res = out.Result
			if err == nil && !out.Sidecar {
				fmt.Fprintf(o.ErrOut, "Warning: pod/%s ran without Istio's sidecar: client-side settings were not exercised\n", out.Pod)
			}
		}
	} else {
		res, err = loadgen.Run(ctx, opts)
	}
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("verifying with load on %s: %w", url, err)}
	}
	fmt.Fprintln(o.Out)
	if err := writeLoadText(o.Out, url, res); err != nil {
		return err
	}
	return writeVerdicts(o.Out, o.expectation, res)
}

func writeVerdicts(w io.Writer, e resilience.Expectation, res *loadgen.Result) error {
	if e.IsEmpty() {
		_, err := io.WriteString(w, "\nRetries do not show from the client: the calling sidecar's statistics count them (envoy_cluster_upstream_rq_retry).\n")
		return err
	}
	failed := 0
	var b strings.Builder
	b.WriteString("\n")
	for _, v := range resilience.Judge(e, res) {
		mark := "PASS"
		if !v.OK {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(&b, "%s  %s: %s\n", mark, v.Check, v.Detail)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if failed > 0 {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("the load did not show %d of the expected effects", failed)}
	}
	return nil
}
