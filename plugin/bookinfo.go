package plugin

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/bookinfo"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/ingress"
)

func newBookinfoCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bookinfo",
		Short: "Deploy, expose, check and remove Istio's Bookinfo sample",
		Long: `Bookinfo is Istio's sample application: productpage calls details and reviews;
reviews v1 shows no stars, v2 and v3 call ratings and show black and red stars.
Its objects are built by kubectl mesh and labelled
app.kubernetes.io/managed-by=kubectl-mesh, so cleanup removes exactly them.`,
	}
	cmd.AddCommand(
		newBookinfoDeployCommand(env, streams),
		newBookinfoExposeCommand(env, streams),
		newBookinfoURLCommand(env, streams),
		newBookinfoCheckCommand(env, streams),
		newBookinfoStatusCommand(env, streams),
		newBookinfoCleanupCommand(env, streams),
	)
	return cmd
}

// BookinfoDeployOptions holds `kubectl mesh bookinfo deploy` flags.
type BookinfoDeployOptions struct {
	namespaceCommon
	applyOutput
	Selector string
	Hub      string
	ImageTag string
	Replicas int32
	deployFlags

	selector labels.Selector
}

func newBookinfoDeployCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &BookinfoDeployOptions{namespaceCommon: newNamespaceCommon(env, streams),
		Hub: bookinfo.DefaultHub, ImageTag: bookinfo.DefaultImageTag, Replicas: 1, deployFlags: defaultDeployFlags()}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy Bookinfo's services and workloads and wait until they are available",
		Long: `Create the namespace if needed, enable sidecar injection in it (unless
--no-inject), server-side apply Bookinfo's Services (port 9080), ServiceAccounts
and Deployments details-v1, ratings-v1, reviews-v1/v2/v3 and productpage-v1, and
wait until every Deployment is available. -l applies only the objects whose
labels match, like the sample's app, version, service and account labels.`,
		Example: `  kubectl mesh bookinfo deploy -n bookinfo
  kubectl mesh bookinfo deploy -n bookinfo -l app=reviews,version=v3
  kubectl mesh bookinfo deploy --image-tag 1.16.2 --timeout 10m
  kubectl mesh bookinfo deploy -n bookinfo --dry-run=client -o yaml`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	f := cmd.Flags()
	f.StringVarP(&o.Selector, "selector", "l", "", "Only the objects whose labels match (app=, version=, service=, account=)")
	f.StringVar(&o.Hub, "hub", o.Hub, "Image repository prefix: images are HUB/examples-bookinfo-APP-VERSION:TAG")
	f.StringVar(&o.ImageTag, "image-tag", o.ImageTag, "Bookinfo image version")
	f.Int32Var(&o.Replicas, "replicas", o.Replicas, "Replicas of each Deployment")
	o.deployFlags.addFlags(f)
	o.applyOutput.addFlags(cmd)
	return cmd
}

// Complete resolves the namespace and the selector.
func (o *BookinfoDeployOptions) Complete(*cobra.Command, []string) error {
	if err := o.complete(); err != nil {
		return err
	}
	if o.Selector != "" {
		sel, err := labels.Parse(o.Selector)
		if err != nil {
			return usageError("--selector %q: %v", o.Selector, err)
		}
		o.selector = sel
	}
	return nil
}

// Validate checks the flags.
func (o *BookinfoDeployOptions) Validate() error {
	if err := o.applyOutput.validate(); err != nil {
		return err
	}
	if o.Replicas < 0 {
		return usageError("--replicas must not be negative, not %d", o.Replicas)
	}
	return o.deployFlags.validate()
}

// Run applies the objects and waits for the Deployments.
func (o *BookinfoDeployOptions) Run(ctx context.Context) error {
	objs, err := bookinfo.Objects(bookinfo.Options{Namespace: o.namespace, Hub: o.Hub, ImageTag: o.ImageTag, Replicas: o.Replicas, Selector: o.selector})
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return usageError("--selector %q matches none of Bookinfo's objects", o.Selector)
	}
	groups := groupDeployments(objs, "app", bookinfo.Services, func(app string) string { return "Bookinfo " + app })
	return o.deploy(ctx, &o.applyOutput, &o.deployFlags, objs, groups, "Bookinfo deployed in namespace "+o.namespace)
}

// BookinfoExposeOptions holds `kubectl mesh bookinfo expose` flags.
type BookinfoExposeOptions struct {
	namespaceCommon
	applyOutput
	API string
}

func newBookinfoExposeCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &BookinfoExposeOptions{namespaceCommon: newNamespaceCommon(env, streams)}
	cmd := &cobra.Command{
		Use:   "expose",
		Short: "Route the ingress gateway to productpage",
		Long: `Create the Gateway bookinfo-gateway (selector istio=ingressgateway, port 80,
hosts *) and the VirtualService bookinfo that routes /productpage, /static,
/login, /logout and /api/v1/products to productpage:9080. Both are checked with
the policy core against the cluster before they are applied.

With --api gateway, the Kubernetes Gateway API's objects instead: the Gateway
bookinfo-gateway of class istio (one HTTP listener on port 80 for routes of its
namespace; Istio deploys its proxy and the Service bookinfo-gateway-istio) and
the HTTPRoute bookinfo with the same paths. The cluster needs the Gateway API's
CRDs (kubectl mesh install --gateway-api).`,
		Example: `  kubectl mesh bookinfo expose -n bookinfo
  kubectl mesh bookinfo expose -n bookinfo --api gateway
  kubectl mesh bookinfo expose -n bookinfo --dry-run=client -o yaml`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	addAPIFlag(cmd, &o.API, "Gateway and HTTPRoute")
	o.applyOutput.addFlags(cmd)
	return cmd
}

// Complete resolves the namespace.
func (o *BookinfoExposeOptions) Complete(*cobra.Command, []string) error { return o.complete() }

// Validate checks the flags.
func (o *BookinfoExposeOptions) Validate() error {
	if err := validateAPI(o.API); err != nil {
		return err
	}
	return o.applyOutput.validate()
}

// Run validates and applies the Gateway and its route.
func (o *BookinfoExposeOptions) Run(ctx context.Context) error {
	objs := bookinfo.GatewayObjects(o.namespace)
	if o.API == apiGateway {
		objs = bookinfo.GatewayAPIObjects(o.namespace)
	}
	if o.dryRun == apply.DryRunClient {
		return o.report(o.IOStreams, objs)
	}
	dyn, err := o.env.dynamic()
	if err != nil {
		return err
	}
	steps := make([]apply.Step, 0, len(objs))
	for _, obj := range objs {
		steps = append(steps, apply.Step{Object: obj, Result: obj, What: kindRef(obj) + " serverside-applied"})
	}
	return applyChange(ctx, o.IOStreams, dyn, o.dryRun, o.Output, steps, nil)
}

func newBookinfoURLCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := newIngressURLOptions(env, streams, "/productpage", bookinfo.GatewayName)
	cmd := &cobra.Command{
		Use:   "url",
		Short: "Print Bookinfo's URL through the ingress gateway",
		Long: `Print http://GATEWAY_URL/productpage, where GATEWAY_URL is the ingress gateway's
load balancer address, else its external IPs, else a node's address and the
http2 port's nodePort (see kubectl mesh ingress url). With --api gateway, the
address of the Gateway API Gateway bookinfo-gateway in the namespace (-n), as
bookinfo expose --api gateway made it.`,
		Example: `  kubectl mesh bookinfo url
  eval "$(kubectl mesh bookinfo url -o env)" && curl -s "http://$GATEWAY_URL/productpage" | grep -o "<title>.*</title>"
  kubectl mesh bookinfo url --port-forward
  kubectl mesh bookinfo url --api gateway -n bookinfo`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	o.addFlags(cmd)
	return cmd
}

// BookinfoCheckOptions holds `kubectl mesh bookinfo check` flags.
type BookinfoCheckOptions struct {
	env *commandEnv
	genericiooptions.IOStreams
	URL     string
	Gateway ingress.Options
	Timeout time.Duration
	// API gateway reaches Bookinfo through the Gateway API Gateway
	// bookinfo-gateway of the namespace instead.
	API string

	namespace string
}

func newBookinfoCheckCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &BookinfoCheckOptions{env: env, IOStreams: streams, Gateway: ingress.DefaultOptions(), Timeout: 10 * time.Second}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Fetch /productpage through the ingress gateway and check its title",
		Long: `Fetch http://GATEWAY_URL/productpage (or --url) and check that the page title is
"Simple Bookstore App". Exit 1 with the reason otherwise: no route on the
gateway (404), no healthy upstream (503), a different page, or no answer.
With --api gateway, through the Gateway API Gateway bookinfo-gateway of the
namespace (see bookinfo url).`,
		Example: `  kubectl mesh bookinfo check
  kubectl mesh bookinfo check --url http://127.0.0.1:8080/productpage
  kubectl mesh bookinfo check -n bookinfo --api gateway`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	addAPIFlag(cmd, &o.API, "through the Gateway bookinfo-gateway of the namespace")
	cmd.Flags().StringVar(&o.URL, "url", "", "Page to check instead of the ingress gateway's /productpage")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the page")
	return cmd
}

// Complete resolves the namespace of a Gateway API Gateway; the gateway
// itself is looked up only when --url is not given.
func (o *BookinfoCheckOptions) Complete(*cobra.Command, []string) error {
	if o.API != apiGateway {
		return nil
	}
	ns, err := o.env.namespace()
	o.namespace = ns
	return err
}

// Validate checks the flags.
func (o *BookinfoCheckOptions) Validate() error {
	if err := validateAPI(o.API); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive, not %s", o.Timeout)
	}
	return nil
}

// Run fetches the page.
func (o *BookinfoCheckOptions) Run(ctx context.Context) error {
	url := o.URL
	if url == "" {
		addr, err := o.address(ctx)
		if err != nil {
			return &ExitError{Code: ExitFailed, Err: err}
		}
		url = "http://" + addr.HostPort() + "/productpage"
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := ingress.CheckPage(ctx, &http.Client{}, url, bookinfo.Title); err != nil {
		fmt.Fprintf(o.Out, "✘ %s\n", url)
		return &ExitError{Code: ExitFailed, Err: err}
	}
	fmt.Fprintf(o.Out, "✔ %s: %s\n", url, bookinfo.Title)
	return nil
}

// address is the gateway's external address.
func (o *BookinfoCheckOptions) address(ctx context.Context) (ingress.Address, error) {
	kube, dyn, err := o.env.clients()
	if err != nil {
		return ingress.Address{}, err
	}
	if o.API == apiGateway {
		return ingress.FindKubeGateway(ctx, kube, dyn, ingress.KubeGatewayRef{Namespace: o.namespace, Name: bookinfo.GatewayName})
	}
	return ingress.Find(ctx, kube, o.Gateway)
}

// BookinfoStatusOptions holds `kubectl mesh bookinfo status` flags.
type BookinfoStatusOptions struct {
	namespaceCommon
	Output string
}

func newBookinfoStatusCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &BookinfoStatusOptions{namespaceCommon: newNamespaceCommon(env, streams)}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List Bookinfo's workloads with their readiness and sidecars",
		Example: `  kubectl mesh bookinfo status -n bookinfo
  kubectl mesh bookinfo status -o json`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "json for a machine-readable list")
	return cmd
}

// BookinfoWorkloadStatus is one row of `bookinfo status`.
type BookinfoWorkloadStatus struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Desired   int32  `json:"desired"`
	Ready     int32  `json:"ready"`
	Available int32  `json:"available"`
	Pods      int    `json:"pods"`
	Sidecars  int    `json:"sidecars"`
}

// Complete resolves the namespace.
func (o *BookinfoStatusOptions) Complete(*cobra.Command, []string) error { return o.complete() }

// Validate checks the flags.
func (o *BookinfoStatusOptions) Validate() error {
	if o.Output != "" && o.Output != "json" {
		return usageError("--output must be json when given, not %q", o.Output)
	}
	return nil
}

// Run lists the Deployments and their pods' sidecars.
func (o *BookinfoStatusOptions) Run(ctx context.Context) error {
	client, err := o.env.kube()
	if err != nil {
		return err
	}
	sel := labels.Set{bookinfo.ManagedByLabel: bookinfo.ManagedBy, bookinfo.PartOfLabel: bookinfo.PartOf}.String()
	deps, err := client.AppsV1().Deployments(o.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing Bookinfo's Deployments in %s: %w", o.namespace, err)
	}
	pods, err := client.CoreV1().Pods(o.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing pods in %s: %w", o.namespace, err)
	}
	rows := make([]BookinfoWorkloadStatus, 0, len(deps.Items))
	for _, d := range deps.Items {
		row := BookinfoWorkloadStatus{Name: d.Name, Version: d.Spec.Template.Labels["version"], Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas, Desired: 1}
		if d.Spec.Replicas != nil {
			row.Desired = *d.Spec.Replicas
		}
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && !s.Empty() {
			for i := range pods.Items {
				if pods.Items[i].DeletionTimestamp == nil && s.Matches(labels.Set(pods.Items[i].Labels)) {
					row.Pods++
					if hasSidecar(&pods.Items[i]) {
						row.Sidecars++
					}
				}
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	if o.Output == "json" {
		return printJSON(o.Out, map[string]any{"namespace": o.namespace, "workloads": rows})
	}
	if len(rows) == 0 {
		fmt.Fprintf(o.ErrOut, "No Bookinfo workloads in namespace %s (kubectl mesh bookinfo deploy -n %s)\n", o.namespace, o.namespace)
		return &ExitError{Code: ExitFailed}
	}
	tw := tabwriter.NewWriter(o.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DEPLOYMENT\tVERSION\tREADY\tAVAILABLE\tSIDECARS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d/%d\n", r.Name, r.Version, r.Ready, r.Desired, r.Available, r.Sidecars, r.Pods)
	}
	return tw.Flush()
}

// BookinfoCleanupOptions holds `kubectl mesh bookinfo cleanup` flags.
type BookinfoCleanupOptions struct {
	namespaceCommon
	cleanupFlags
}

func newBookinfoCleanupCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &BookinfoCleanupOptions{namespaceCommon: newNamespaceCommon(env, streams)}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete everything kubectl mesh created for Bookinfo",
		Long: `Delete Bookinfo's Deployments, Services, ServiceAccounts, Gateway and
VirtualService or HTTPRoute (the objects labelled
app.kubernetes.io/managed-by=kubectl-mesh and app.kubernetes.io/part-of=bookinfo),
plus the VirtualServices and DestinationRules kubectl mesh made for Bookinfo's
services (canary, resilience), and with the Gateway API the HTTPRoutes whose
parent is one of them and the Services of their versions (reviews-v1, ...).
Objects created by hand are left alone. The namespace stays.`,
		Example: `  kubectl mesh bookinfo cleanup -n bookinfo
  kubectl mesh bookinfo cleanup --dry-run=server`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	o.cleanupFlags.addFlags(cmd)
	return cmd
}

// Complete resolves the namespace.
func (o *BookinfoCleanupOptions) Complete(*cobra.Command, []string) error { return o.complete() }

// Validate checks the flags.
func (o *BookinfoCleanupOptions) Validate() error { return o.cleanupFlags.validate() }

// Run deletes the objects.
func (o *BookinfoCleanupOptions) Run(ctx context.Context) error {
	dyn, err := o.env.dynamic()
	if err != nil {
		return err
	}
	deleted, err := o.deleteManaged(ctx, dyn, o.dryRun, sampleResources, o.belongsToBookinfo)
	if err != nil {
		return err
	}
	if deleted == 0 {
		fmt.Fprintf(o.ErrOut, "No Bookinfo objects made by kubectl mesh in namespace %s\n", o.namespace)
	}
	return nil
}

// belongsToBookinfo: Bookinfo's own objects carry part-of=bookinfo; the
// traffic config other commands made for its services is recognised by
// the hosts it is about.
func (o *BookinfoCleanupOptions) belongsToBookinfo(obj *unstructured.Unstructured) bool {
	return obj.GetLabels()[bookinfo.PartOfLabel] == bookinfo.PartOf || trafficFor(obj, o.namespace, bookinfo.Services)
}
