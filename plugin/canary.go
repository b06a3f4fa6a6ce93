package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/canary"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/stats"
)

func newCanaryCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary set|step|promote|rollback|status|verify SERVICE",
		Short: "Shift traffic between the versions of a service and check the split",
		Long: `Canary releases with Istio subsets: 'set' gives each version of a service
its share of traffic (the DestinationRule's subsets and the weights of the
VirtualService's default route), 'step' and 'promote' move traffic to the new
version, 'rollback' returns to the split before the last change, 'status'
shows the split and the workloads behind each subset, and 'verify' sends
requests and tests the observed split against the weights.

Changes are ordered make-before-break: a new subset is added to the
DestinationRule before the route names it, and --prune removes subsets only
after the route has left them. Match rules and other routes of the
VirtualService are kept; only the default route (the last one without match)
or --route changes. Each change is checked with the webhook's policies before
anything is applied, and the split it replaced is kept in the annotation
kubectl-mesh.io/canary-history of the VirtualService (the last 10).

With --api gateway the split is written with the Kubernetes Gateway API, as
Istio's Gateway API traffic-shifting task does: a Service per version
(SERVICE-VERSION, selecting the service's pods of that version, on its
ports), created when missing, and an HTTPRoute named after the service whose
parent is the Service itself and whose backendRefs, the versions' Services,
carry the weights (and the history annotation). Versions that drop to 0 stay
in the route at weight 0 until --prune removes them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCanaryChangeCommand(env, streams, "set"),
		newCanaryChangeCommand(env, streams, "step"),
		newCanaryChangeCommand(env, streams, "promote"),
		newCanaryChangeCommand(env, streams, "rollback"),
		newCanaryStatusCommand(env, streams),
		newCanaryVerifyCommand(env, streams),
	)
	return cmd
}

// CanaryOptions holds the flags of `kubectl mesh canary set|step|promote|rollback`.
type CanaryOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Op             string
	Service        string
	Weights        string
	To             string
	By             int
	SubsetLabel    string
	Route          string
	VirtualService string
	Gateway        string
	Hosts          []string
	Port           int64
	Prune          bool
	Force          bool
	API            string
	DryRun         string
	Output         string

	namespace string
	change    canary.Change
	dryRun    apply.DryRun
}

var canaryChangeDocs = map[string]struct{ use, short, long, example string }{
	"set": {
		"set SERVICE SUBSET=PERCENT,... [--subset-label version] [--gateway NS/NAME --hosts H]",
		"Give each version of a service its share of traffic",
		`Create or update the DestinationRule subsets of SERVICE (a new subset selects
pods labelled --subset-label=SUBSET) and the weights of the VirtualService's
default route. The weights must add up to 100; a subset given traffic must
select a Deployment's pod template in the namespace (with the Service's
selector) unless --force. When no VirtualService routes to the service, one
named after it is created: for mesh traffic (hosts: the service), or, with
--gateway, bound to that gateway with --hosts (default "*") and routing to the
service's fully qualified name.`,
		`  # The split of the tutorial: a VirtualService on the ingress gateway
  kubectl mesh canary set canary v1=90,v2=10 --subset-label app --gateway canary-gateway --hosts '*'

  # Bookinfo's reviews: half to v3, inside the mesh
  kubectl mesh canary set reviews v1=50,v3=50 -n bookinfo

  # Print what would be applied
  kubectl mesh canary set reviews v1=80,v2=20 -n bookinfo --dry-run=client -o yaml

  # With the Gateway API: Services reviews-v1 and reviews-v3 and an HTTPRoute
  kubectl mesh canary set reviews v1=50,v3=50 -n bookinfo --api gateway`,
	},
	"step": {
		"step SERVICE --to SUBSET [--by 10]",
		"Move a share of traffic to one version",
		`Move --by percent of the traffic to --to, taking it from the other subsets in
proportion to their weights (whole percents, rounded by largest remainder);
--to stops at 100 and no other subset goes below 0. A subset not yet in the
route joins it (and the DestinationRule, with --subset-label).`,
		`  kubectl mesh canary step canary --to v2 --by 10
  kubectl mesh canary step reviews --to v3 --by 25 -n bookinfo
  kubectl mesh canary step reviews --to v3 --by 25 -n bookinfo --api gateway`,
	},
	"promote": {
		"promote SERVICE --to SUBSET [--prune]",
		"Send all traffic to one version",
		`Route all traffic of the default route (or --route) to --to. With --prune the
subsets no route uses any more are then removed from the DestinationRule
(with --api gateway: the other backendRefs are removed from the HTTPRoute).`,
		`  kubectl mesh canary promote canary --to v2
  kubectl mesh canary promote reviews --to v3 -n bookinfo --prune
  kubectl mesh canary promote reviews --to v3 -n bookinfo --prune --api gateway`,
	},
	"rollback": {
		"rollback SERVICE",
		"Return to the split before the last change",
		`Restore the split that the last set, step or promote of the route replaced,
from the history annotation kubectl-mesh.io/canary-history; each rollback goes
one entry further back. A subset that --prune removed since is recreated with
its labels first.`,
		`  kubectl mesh canary rollback canary
  kubectl mesh canary rollback reviews -n bookinfo --route jason
  kubectl mesh canary rollback reviews -n bookinfo --api gateway`,
	},
}

func newCanaryChangeCommand(env *commandEnv, streams genericiooptions.IOStreams, op string) *cobra.Command {
	o := &CanaryOptions{env: env, IOStreams: streams, Op: op, By: 10, DryRun: "none"}
	doc := canaryChangeDocs[op]
	args := cobra.ExactArgs(1)
	if op == "set" {
		args = cobra.ExactArgs(2)
	}
	cmd := &cobra.Command{
		Use:     doc.use,
		Short:   doc.short,
		Long:    doc.long,
		Example: doc.example,
		Args:    args,
		// SERVICE from the namespace; set's weights are typed, not chosen.
		ValidArgsFunction: completeArgs(completeServices(env)),
		RunE:              runOptions(o),
	}
	f := cmd.Flags()
	switch op {
	case "set":
		f.StringVar(&o.Gateway, "gateway", "", "Bind a VirtualService that has to be created to this Gateway (NAME or NAMESPACE/NAME)")
		f.StringSliceVar(&o.Hosts, "hosts", nil, `Hosts of a VirtualService created with --gateway (default "*")`)
		f.Int64Var(&o.Port, "port", 0, "Destination port of a VirtualService that has to be created (for a Service with several ports)")
	case "step":
		f.StringVar(&o.To, "to", "", "The subset that gets the traffic (required)")
		f.IntVar(&o.By, "by", o.By, "Percent of the traffic to move, 1 to 100")
	case "promote":
		f.StringVar(&o.To, "to", "", "The subset that gets all traffic (required)")
	}
	if f.Lookup("to") != nil {
		// Cannot fail: the flag exists and has no completion yet.
		_ = cmd.RegisterFlagCompletionFunc("to", completeSubsets(env, 0))
	}
	if op != "rollback" {
		f.StringVar(&o.SubsetLabel, "subset-label", "", "Pod label that a new subset selects: subset v2 selects LABEL=v2 (default "+canary.DefaultSubsetLabel+", or the one label that tells the service's Deployments apart)")
		f.BoolVar(&o.Force, "force", false, "Give traffic to a subset even when no Deployment's pod template carries its labels")
	}
	f.StringVar(&o.Route, "route", "", "Name of the http route (HTTPRoute rule) to change (default: the last one without match)")
	f.StringVar(&o.VirtualService, "virtual-service", "", "The VirtualService to change or create (default: the one routing to SERVICE, or one named SERVICE)")
	f.BoolVar(&o.Prune, "prune", false, "Afterwards remove from the DestinationRule the subsets no route uses any more (--api gateway: the backendRefs at 0)")
	addAPIFlag(cmd, &o.API, "Services per version and an HTTPRoute")
	addApplyFlags(f, &o.DryRun, &o.Output)
	return cmd
}

// Complete reads the arguments and resolves the namespace.
func (o *CanaryOptions) Complete(_ *cobra.Command, args []string) error {
	if o.Op == "set" {
		o.Weights = args[1]
	}
	return completeService(o.env, args, &o.Service, &o.namespace)
}

// Validate checks the flags and builds the change.
func (o *CanaryOptions) Validate() error {
	if err := validateServiceTarget(o.Service, o.API, map[string]bool{"--gateway": o.Gateway != "", "--hosts": len(o.Hosts) > 0, "--virtual-service": o.VirtualService != ""}); err != nil {
		return err
	}
	mode, err := apply.ParseDryRun(o.DryRun)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	o.dryRun = mode
	if err := apply.ValidOutput(o.Output); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	o.change = canary.Change{Op: o.Op, Prune: o.Prune, Force: o.Force, To: o.To, By: o.By}
	switch o.Op {
	case "set":
		w, err := canary.ParseWeights(o.Weights)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		o.change.Weights = w
		if len(o.Hosts) > 0 && o.Gateway == "" {
			return usageError("--hosts goes with --gateway (a mesh VirtualService serves the service's own name)")
		}
		if o.Port < 0 || o.Port > 65535 {
			return usageError("--port must be between 1 and 65535, not %d", o.Port)
		}
	case "step", "promote":
		if o.To == "" {
			return usageError("--to is required: the subset that gets the traffic")
		}
		if _, err := canary.ParseWeights(o.To + "=100"); err != nil {
			return usageError("--to %q: not a subset name", o.To)
		}
		if o.Op == "step" && (o.By < 1 || o.By > 100) {
			return usageError("--by must be between 1 and 100, not %d (step --to the other subset to move traffic back)", o.By)
		}
	}
	return nil
}

// gatewayAPIConflicts refuses the flags that shape Istio's objects when
// --api gateway writes the Gateway API's: the HTTPRoute's parent is the
// Service, and it is named after it.
func gatewayAPIConflicts(api string, given map[string]bool) error {
	if api != apiGateway {
		return nil
	}
	for _, flag := range []string{"--gateway", "--hosts", "--virtual-service"} {
		if given[flag] {
			return usageError("%s shapes a VirtualService; with --api gateway the split is an HTTPRoute whose parent is the Service", flag)
		}
	}
	return nil
}

// completeService reads SERVICE, the first argument of every canary
// command, and the namespace.
func completeService(env *commandEnv, args []string, service, namespace *string) error {
	*service = args[0]
	ns, err := env.namespace()
	*namespace = ns
	return err
}

// validateServiceTarget checks SERVICE, --api, and that the flags only
// Istio's API takes (istioOnly: flag name to whether it was given) are not
// given with --api gateway.
func validateServiceTarget(service, api string, istioOnly map[string]bool) error {
	if err := validateServiceName(service); err != nil {
		return err
	}
	if err := validateAPI(api); err != nil {
		return err
	}
	return gatewayAPIConflicts(api, istioOnly)
}

func validateServiceName(name string) error {
	if name == "" || strings.ContainsAny(name, "./ ") {
		return usageError("SERVICE must be the name of a Service in the namespace (-n), not %q", name)
	}
	return nil
}

func (o *CanaryOptions) target() canary.Target {
	return canary.Target{
		Namespace: o.namespace, Service: o.Service, SubsetLabel: o.SubsetLabel,
		Route: o.Route, VirtualService: o.VirtualService,
		Gateway: o.Gateway, Hosts: o.Hosts, Port: o.Port,
	}
}

// Run plans the change, checks it with the policy core and applies it.
func (o *CanaryOptions) Run(ctx context.Context) error {
	kube, dyn, err := o.env.clients()
	if err != nil {
		return err
	}
	target := o.target()
	load, compute := canary.Load, canary.Compute
	if o.API == apiGateway {
		load, compute = canary.LoadHTTPRoute, canary.ComputeHTTPRoute
	}
	state, err := load(ctx, kube, dyn, target)
	if err != nil {
		return canaryError(err)
	}
	o.change.Now = o.env.clock()
	plan, err := compute(target, state, o.change)
	if err != nil {
		return canaryError(err)
	}
	if plan.Unchanged {
		msg := fmt.Sprintf("%s of %s: already %s; nothing to do\n", plan.RouteName, o.Service, plan.To.Positive())
		if o.Output != "" {
			_, err = io.WriteString(o.ErrOut, msg)
		} else {
			_, err = io.WriteString(o.Out, msg)
		}
		return err
	}
	if plan.InferredLabel != "" {
		fmt.Fprintf(o.ErrOut, "new subsets select pods by label %s, the one that tells the Deployments of %s apart (--subset-label picks another)\n", plan.InferredLabel, o.Service)
	}
	if err := applyChange(ctx, o.IOStreams, dyn, o.dryRun, o.Output, plan.Steps, nil); err != nil || o.Output != "" {
		return err
	}
	if len(plan.Kept) > 0 {
		fmt.Fprintf(o.Out, "kept subsets %s: other routes still use them\n", strings.Join(plan.Kept, ", "))
	}
	from := plan.From.Positive().String()
	if from == "" {
		from = "none before"
	}
	_, err = fmt.Fprintf(o.Out, "%s of %s: %s (was %s)%s\n", plan.RouteName, o.Service, plan.To.Positive(), from, o.dryRun.Suffix())
	return err
}

// canaryError maps the engine's errors: refusals and invalid splits are a
// failed action (exit 1).
func canaryError(err error) error { return refusal(err, canary.ErrRefused) }

// printApplied prints objects as applied; a client dry run prints them
// without the resourceVersion kept as the apply's precondition, so the
// output can be applied later as it is.
func printApplied(w io.Writer, format string, mode apply.DryRun, objs []*unstructured.Unstructured) error {
	if mode == apply.DryRunClient {
		clean := make([]*unstructured.Unstructured, len(objs))
		for i, obj := range objs {
			clean[i] = obj.DeepCopy()
			unstructured.RemoveNestedField(clean[i].Object, "metadata", "resourceVersion")
		}
		objs = clean
	}
	return apply.Print(w, format, objs)
}

// ---------------------------------------------------------------- status

// CanaryStatusOptions holds `kubectl mesh canary status` flags.
type CanaryStatusOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Service        string
	Route          string
	VirtualService string
	API            string
	Output         string

	namespace string
}

func newCanaryStatusCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CanaryStatusOptions{env: env, IOStreams: streams, Output: "text"}
	cmd := &cobra.Command{
		Use:   "status SERVICE [-o text|json|yaml]",
		Short: "Show the subsets, weights and ready workloads of a service",
		Long: `Show the split of SERVICE: each subset of its DestinationRule with its labels,
its weight in the VirtualService's default route (or --route), and the
Deployments that run it with their ready replicas; then the history that
rollback walks back through. With --api gateway, each version's Service and
its weight among the backendRefs of the HTTPRoute whose parent is SERVICE.`,
		Example: `  kubectl mesh canary status canary
  kubectl mesh canary status reviews -n bookinfo -o json
  kubectl mesh canary status reviews -n bookinfo --api gateway`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(completeServices(env)),
		RunE:              runOptions(o),
	}
	cmd.Flags().StringVar(&o.Route, "route", "", "Name of the http route to show (default: the last route without match)")
	cmd.Flags().StringVar(&o.VirtualService, "virtual-service", "", "The VirtualService to read (default: the one routing to SERVICE)")
	addAPIFlag(cmd, &o.API, "the HTTPRoute whose parent is SERVICE")
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: text, json or yaml")
	return cmd
}

// Complete reads the arguments and resolves the namespace.
func (o *CanaryStatusOptions) Complete(_ *cobra.Command, args []string) error {
	return completeService(o.env, args, &o.Service, &o.namespace)
}

// Validate checks the argument and the flags.
func (o *CanaryStatusOptions) Validate() error {
	if err := validateServiceTarget(o.Service, o.API, map[string]bool{"--virtual-service": o.VirtualService != ""}); err != nil {
		return err
	}
	switch o.Output {
	case "text", "json", "yaml":
		return nil
	}
	return usageError("--output must be text, json or yaml, not %q", o.Output)
}

// Run reads and prints the split.
func (o *CanaryStatusOptions) Run(ctx context.Context) error {
	kube, dyn, err := o.env.clients()
	if err != nil {
		return err
	}
	target := canary.Target{Namespace: o.namespace, Service: o.Service, Route: o.Route, VirtualService: o.VirtualService}
	load, status := canary.Load, canary.StatusOf
	if o.API == apiGateway {
		load, status = canary.LoadHTTPRoute, canary.StatusOfHTTPRoute
	}
	state, err := load(ctx, kube, dyn, target)
	if err != nil {
		return canaryError(err)
	}
	if !state.ServiceFound {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("service %s not found in namespace %s", o.Service, o.namespace)}
	}
	st, err := status(target, state)
	if err != nil {
		return canaryError(err)
	}
	switch o.Output {
	case "json":
		return printJSON(o.Out, st)
	case "yaml":
		b, err := yaml.Marshal(st)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	return writeCanaryStatus(o.Out, st)
}

func writeCanaryStatus(w io.Writer, st *canary.Status) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Service:          %s (%s)\n", st.Service, st.Host)
	route := func(name, none string) string {
		switch {
		case name == "":
			return none
		case st.Route == "(default)":
			return name + ", default route"
		}
		return name + ", route " + st.Route
	}
	// An HTTPRoute's versions are Services, not subsets of a DestinationRule.
	gatewayAPI := st.API == apiGateway
	if gatewayAPI {
		fmt.Fprintf(&b, "HTTPRoute:        %s\n\n", route(st.HTTPRoute, "none has the service as parent"))
	} else {
		dr := st.DestinationRule
		if dr == "" {
			dr = "none"
		}
		fmt.Fprintf(&b, "VirtualService:   %s\nDestinationRule:  %s\n\n", route(st.VirtualService, "none routes to the service"), dr)
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSET\tWEIGHT\tLABELS\tWORKLOADS")
	for _, s := range st.Subsets {
		name := s.Name
		switch {
		case name == "":
			name = "(all)"
		case !s.Defined && gatewayAPI:
			name += " (no Service " + s.Backend + ")"
		case !s.Defined:
			name += " (not in the DestinationRule)"
		}
		var workloads []string
		for _, wl := range s.Workloads {
			workloads = append(workloads, fmt.Sprintf("%s %d/%d ready", wl.Name, wl.Ready, wl.Replicas))
		}
		if len(workloads) == 0 {
			workloads = []string{"none"}
		}
		labels := canary.FormatLabels(s.Labels)
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", name, s.Weight, labels, strings.Join(workloads, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.History) > 0 {
		b.WriteString("\nHistory (newest last; rollback returns to the newest):\n")
		for _, h := range st.History {
			route := ""
			if h.Route != "" {
				route = " (route " + h.Route + ")"
			}
			fmt.Fprintf(&b, "  %s  %s%s\n", h.At, h.Weights.Positive(), route)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ---------------------------------------------------------------- verify

// CanaryVerifyOptions holds `kubectl mesh canary verify` flags.
type CanaryVerifyOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Service        string
	URL            string
	Requests       int
	Concurrency    int
	Timeout        time.Duration
	Headers        []string
	Matches        []string
	MatchHeader    string
	Weights        string
	Route          string
	VirtualService string
	API            string
	Output         string

	namespace string
	verify    canary.VerifyOptions
}

func newCanaryVerifyCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CanaryVerifyOptions{env: env, IOStreams: streams, Requests: 100, Concurrency: 4, Timeout: 10 * time.Second, Output: "text"}
	cmd := &cobra.Command{
		Use:   "verify SERVICE --url URL [-n 100] [--match SUBSET=REGEX ...]",
		Short: "Send requests and test the observed split against the weights",
		Long: `Send -n requests to --url (the ingress gateway's address, say), tell which
version answered each, and test the observed split against the weights of the
service's route (or --weights) with a chi-square goodness-of-fit test. When
expected counts are small (under 5) the p-value is exact instead.

Versions are told apart by regular expressions over the response body (or the
value of --match-header): --match v2=REGEX, repeatable, first match wins.
Without --match, Bookinfo's reviews are recognised: v1 shows no stars, v2
black stars, v3 red stars (and a page naming its reviews pod, reviews-v2-...,
is read from that). Answers that are not 2xx, or that match no pattern, are
counted apart and left out of the test.

Exit status: 0 when the split is consistent with the weights; 1 when it
differs significantly at the 99% level (p < 0.01), a version with weight 0
answered, or no answer could be classified; 2 for bad flags.`,
		Example: `  # 100 requests (-n, as in load; the namespace is --namespace here) against the route's weights (Bookinfo)
  kubectl mesh canary verify reviews --namespace bookinfo --url http://$GATEWAY_URL/productpage -n 100

  # The tutorial's canary: each version says its name in the body
  kubectl mesh canary verify canary --url http://$GATEWAY_URL/ --match v1='version: v1' --match v2='version: v2'

  # By a response header, without reading the cluster
  kubectl mesh canary verify canary --url http://$GATEWAY_URL/ --weights v1=90,v2=10 --match-header x-version --match v1=^v1 --match v2=^v2 -o json

  # Against the weights of the HTTPRoute of reviews (canary set --api gateway)
  kubectl mesh canary verify reviews --namespace bookinfo --url http://$GATEWAY_URL/productpage --api gateway`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeArgs(completeServices(env)),
		RunE:              runOptions(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "URL to send the requests to (required)")
	f.IntVarP(&o.Requests, "requests", "n", o.Requests, "Number of requests")
	f.IntVarP(&o.Concurrency, "connections", "c", o.Concurrency, "Requests in flight at once")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "Timeout of each request")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, "Extra header 'Name: value' on every request; repeatable")
	f.StringArrayVar(&o.Matches, "match", nil, "SUBSET=REGEX: a response matching REGEX came from SUBSET; repeatable, first match wins")
	f.StringVar(&o.MatchHeader, "match-header", "", "Match the --match patterns against this response header instead of the body")
	f.StringVar(&o.Weights, "weights", "", "Expected split, e.g. v1=90,v2=10 (default: read from the route in the cluster)")
	f.StringVar(&o.Route, "route", "", "Name of the http route whose weights are expected (default: the last route without match)")
	f.StringVar(&o.VirtualService, "virtual-service", "", "The VirtualService to read the weights from (default: the one routing to SERVICE)")
	addAPIFlag(cmd, &o.API, "the weights of the HTTPRoute whose parent is SERVICE")
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text or json")
	// -n is the number of requests here, as in load: a local --namespace
	// without shorthand keeps kubectl's -n/--namespace out of this command.
	f.StringVar(env.flags.Namespace, "namespace", *env.flags.Namespace,
		"If present, the namespace scope for this CLI request (-n is the number of requests in this command)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(env)) // the local flag needs its own
	return cmd
}

// Complete reads the arguments and resolves the namespace.
func (o *CanaryVerifyOptions) Complete(_ *cobra.Command, args []string) error {
	return completeService(o.env, args, &o.Service, &o.namespace)
}

// Validate checks the flags and builds the engine's options.
func (o *CanaryVerifyOptions) Validate() error {
	if err := validateServiceTarget(o.Service, o.API, map[string]bool{"--virtual-service": o.VirtualService != ""}); err != nil {
		return err
	}
	if o.URL == "" {
		return usageError("--url is required: where to send the requests (the ingress gateway, say)")
	}
	target, err := loadgen.ValidateURL(o.URL)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--url: %w", err)}
	}
	if o.Requests < 1 {
		return usageError("-n must be at least 1, not %d", o.Requests)
	}
	if o.Concurrency < 1 {
		return usageError("-c must be at least 1, not %d", o.Concurrency)
	}
	if err := validateHTTPFlags(o.Timeout, o.Headers, o.Output); err != nil {
		return err
	}
	classifier := canary.Classifier{Header: o.MatchHeader}
	for _, m := range o.Matches {
		rule, err := canary.ParseMatch(m)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		classifier.Rules = append(classifier.Rules, rule)
	}
	if len(classifier.Rules) == 0 {
		if o.MatchHeader != "" {
			return usageError("--match-header needs --match patterns for its values")
		}
		classifier.Rules = canary.BookinfoRules()
	}
	o.verify = canary.VerifyOptions{
		URL: target, Requests: o.Requests, Concurrency: o.Concurrency, Timeout: o.Timeout,
		Headers: o.Headers, Classifier: classifier,
	}
	if o.Weights != "" {
		w, err := canary.ParseWeights(o.Weights)
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--%w", err)}
		}
		o.verify.Weights = w
	}
	return nil
}

// Run reads the weights (unless given), sends the requests and reports.
func (o *CanaryVerifyOptions) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if o.verify.Weights == nil {
		kube, dyn, err := o.env.clients()
		if err != nil {
			return err
		}
		target := canary.Target{Namespace: o.namespace, Service: o.Service, Route: o.Route, VirtualService: o.VirtualService}
		load, status, kind := canary.Load, canary.StatusOf, "VirtualService"
		if o.API == apiGateway {
			load, status, kind = canary.LoadHTTPRoute, canary.StatusOfHTTPRoute, "HTTPRoute"
		}
		state, err := load(ctx, kube, dyn, target)
		if err != nil {
			return canaryError(err)
		}
		st, err := status(target, state)
		if err != nil {
			return canaryError(err)
		}
		if st.VirtualService == "" && st.HTTPRoute == "" {
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("no %s in namespace %s routes to %s: nothing to verify (give --weights to test a split anyway)", kind, o.namespace, o.Service)}
		}
		o.verify.Weights = st.Weights()
		if o.verify.Weights.Has("") {
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("the route of %s sends traffic to the whole service, not to subsets: there is no split to verify (kubectl mesh canary set first)", o.Service)}
		}
	}
	res, err := canary.Verify(ctx, o.verify)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("verifying %s: %w", o.verify.URL, err)}
	}
	if o.Output == "json" {
		if err := printJSON(o.Out, res); err != nil {
			return err
		}
	} else if err := writeVerify(o.Out, res); err != nil {
		return err
	}
	switch {
	case res.Classified() == 0:
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("none of the %d answers told its version (%d failed, %d matched no pattern); check --url and --match", res.Requests, res.Failed, res.Unclassified)}
	case res.Significant:
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

func writeVerify(w io.Writer, res *canary.VerifyResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Sent %d requests to %s: %d told their version, %d answered 2xx without telling it, %d failed\n",
		res.Requests, res.URL, res.Classified(), res.Unclassified, res.Failed)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSET\tWEIGHT\tEXPECTED\tOBSERVED")
	for _, r := range res.Rows {
		name := r.Subset
		if name == "" {
			name = "(all)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\n", name, r.Weight, r.Expected, r.Observed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := res.Test
	switch t.Method {
	case stats.MethodImpossible:
		b.WriteString("A version with weight 0 answered: the split does not match the weights.\n")
	default:
		fmt.Fprintf(&b, "chi-square %.3f, %d degree(s) of freedom, p-value %.4g (%s)\n", t.ChiSquare, t.DF, t.PValue, t.Method)
		if res.Significant {
			fmt.Fprintf(&b, "The observed split differs from the weights (significant at the 99%% level: p < %g).\n", canary.Significance)
		} else if res.Classified() > 0 {
			b.WriteString("The observed split is consistent with the weights (no significant difference at the 99% level).\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
