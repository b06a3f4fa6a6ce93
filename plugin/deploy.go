package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/canary"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/ingress"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/workload"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// This file holds what the commands that deploy and remove sample
// workloads (bookinfo, sample) share.

// namespaceCommon is what the bookinfo and sample subcommands share: the streams,
// the namespace and the clients.
type namespaceCommon struct {
	env *commandEnv
	genericiooptions.IOStreams
	namespace string
}

func newNamespaceCommon(env *commandEnv, streams genericiooptions.IOStreams) namespaceCommon {
	return namespaceCommon{env: env, IOStreams: streams}
}

// complete resolves the namespace: -n, else the kubeconfig's.
func (c *namespaceCommon) complete() error {
	ns, err := c.env.namespace()
	c.namespace = ns
	return err
}

// applyOutput are the --dry-run and -o flags of commands that apply.
type applyOutput struct {
	DryRunFlag string
	Output     string
	dryRun     apply.DryRun
}

func (a *applyOutput) addFlags(cmd *cobra.Command) {
	if a.DryRunFlag == "" {
		a.DryRunFlag = "none"
	}
	addApplyFlags(cmd.Flags(), &a.DryRunFlag, &a.Output)
	// A bare --dry-run means client, as in kubectl.
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
}

func (a *applyOutput) validate() error {
	d, err := apply.ParseDryRun(a.DryRunFlag)
	if err != nil {
		return usageError("%v", err)
	}
	a.dryRun = d
	if err := apply.ValidOutput(a.Output); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// report prints what was applied: the objects with -o, else a kubectl-like
// line per object.
func (a *applyOutput) report(streams genericiooptions.IOStreams, objs []*unstructured.Unstructured) error {
	if a.Output != "" {
		return apply.Print(streams.Out, a.Output, objs)
	}
	for _, obj := range objs {
		fmt.Fprintf(streams.Out, "%s serverside-applied%s\n", kindRef(obj), a.dryRun.Suffix())
	}
	return nil
}

// kindRef is kubectl's kind.group/name form.
func kindRef(obj *unstructured.Unstructured) string {
	gk := obj.GroupVersionKind().GroupKind()
	kind := strings.ToLower(gk.Kind)
	if gk.Group != "" {
		kind += "." + gk.Group
	}
	return kind + "/" + obj.GetName()
}

// deployFlags are the flags of commands that deploy workloads and wait
// for them.
type deployFlags struct {
	NoInject bool
	Revision string
	Timeout  time.Duration
	Wait     bool
}

func defaultDeployFlags() deployFlags { return deployFlags{Timeout: 5 * time.Minute, Wait: true} }

func (d *deployFlags) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&d.NoInject, "no-inject", false, "Leave the namespace's sidecar injection setting alone")
	f.StringVar(&d.Revision, "revision", "", "Inject the sidecar of this Istio revision (istio.io/rev) instead of the default")
	f.DurationVar(&d.Timeout, "timeout", d.Timeout, "How long to wait for the Deployments to become available")
	f.BoolVar(&d.Wait, "wait", d.Wait, "Wait until the Deployments are available")
}

func (d *deployFlags) validate() error {
	if d.Timeout <= 0 {
		return usageError("--timeout must be positive, not %s", d.Timeout)
	}
	if d.NoInject && d.Revision != "" {
		return usageError("--revision and --no-inject exclude each other")
	}
	return nil
}

// deployGroup is one progress line of a deploy: the Deployments of one
// component, ticked when all of them are available.
type deployGroup struct {
	Name string
	Refs []workload.Ref
}

// groupDeployments groups the Deployments among objs by the value of
// label, in order; title names a group's progress line.
func groupDeployments(objs []*unstructured.Unstructured, label string, order []string, title func(string) string) []deployGroup {
	by := map[string][]workload.Ref{}
	for _, obj := range objs {
		if obj.GetKind() == "Deployment" {
			v := obj.GetLabels()[label]
			by[v] = append(by[v], workload.Ref{Kind: "Deployment", Namespace: obj.GetNamespace(), Name: obj.GetName()})
		}
	}
	var out []deployGroup
	for _, v := range order {
		if refs := by[v]; len(refs) > 0 {
			out = append(out, deployGroup{Name: title(v), Refs: refs})
		}
	}
	return out
}

// deploy prints the objects for --dry-run=client, else creates the
// namespace if needed, enables sidecar injection (unless --no-inject),
// server-side applies the objects and waits for the groups' Deployments.
func (c *namespaceCommon) deploy(ctx context.Context, a *applyOutput, d *deployFlags, objs []*unstructured.Unstructured, groups []deployGroup, done string) error {
	if a.dryRun == apply.DryRunClient {
		return a.report(c.IOStreams, objs)
	}
	client, dyn, err := c.env.clients()
	if err != nil {
		return err
	}
	if err := c.ensureNamespace(ctx, client, a.dryRun); err != nil {
		return err
	}
	if !d.NoInject {
		inject := &InjectOptions{env: c.env, IOStreams: c.IOStreams, Enable: true, Namespace: c.namespace,
			Revision: d.Revision, DryRun: string(a.dryRun)}
		if a.Output != "" {
			// Keep -o output a clean document stream.
			inject.Out = c.ErrOut
		}
		if err := inject.label(ctx, client); err != nil {
			return err
		}
	}
	applied, err := (&apply.Applier{Client: dyn, DryRun: a.dryRun}).ApplyAll(ctx, objs)
	if rerr := a.report(c.IOStreams, applied); rerr != nil {
		return rerr
	}
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if !d.Wait || a.dryRun != apply.DryRunNone {
		return nil
	}
	return c.wait(ctx, client, d.Timeout, groups, done)
}

// ensureNamespace creates the namespace when it does not exist, the way
// users expect a sample to land where they point it.
func (c *namespaceCommon) ensureNamespace(ctx context.Context, client kubernetes.Interface, dryRun apply.DryRun) error {
	_, err := client.CoreV1().Namespaces().Get(ctx, c.namespace, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", c.namespace, err)
	}
	opts := metav1.CreateOptions{FieldManager: apply.FieldManager}
	if dryRun == apply.DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, opts); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", c.namespace, err)
	}
	fmt.Fprintf(c.ErrOut, "namespace/%s created%s\n", c.namespace, dryRun.Suffix())
	return nil
}

// wait shows one progress line per group, ticked when all of its
// Deployments are available.
func (c *namespaceCommon) wait(ctx context.Context, client kubernetes.Interface, timeout time.Duration, groups []deployGroup, done string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := progress.New(c.Out)
	for _, g := range groups {
		step := out.Start(g.Name)
		err := workload.Wait(ctx, client, g.Refs, func(pending []workload.Ref) {
			names := make([]string, 0, len(pending))
			for _, r := range pending {
				names = append(names, r.String())
			}
			step.Waiting(strings.Join(names, ", "))
		})
		if err != nil {
			step.Fail(g.Name+" is not ready", err.Error())
			return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s not available within %s", g.Name, timeout)}
		}
		step.Done(g.Name + " ready")
	}
	out.Complete(done)
	return nil
}

// deleteManaged deletes, resource by resource in order, the namespace's
// objects labelled managed-by kubectl-mesh for which belongs is true, and
// prints a line for each; it returns how many there were.
func (c *namespaceCommon) deleteManaged(ctx context.Context, dyn dynamic.Interface, dryRun apply.DryRun, resources []schema.GroupVersionResource, belongs func(*unstructured.Unstructured) bool) (int, error) {
	managed := labels.Set{apply.ManagedByLabel: apply.ManagedBy}.String()
	deleted := 0
	for _, gvr := range resources {
		list, err := dyn.Resource(gvr).Namespace(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: managed})
		if apierrors.IsNotFound(err) {
			continue // Istio's CRDs are not installed
		}
		if err != nil {
			return deleted, fmt.Errorf("listing %s in %s: %w", gvr.Resource, c.namespace, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			if !belongs(obj) {
				continue
			}
			if dryRun != apply.DryRunClient {
				opts := metav1.DeleteOptions{}
				if dryRun == apply.DryRunServer {
					opts.DryRun = []string{metav1.DryRunAll}
				}
				if err := dyn.Resource(gvr).Namespace(c.namespace).Delete(ctx, obj.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
					return deleted, &ExitError{Code: ExitFailed, Err: fmt.Errorf("deleting %s: %w", kindRef(obj), err)}
				}
			}
			deleted++
			fmt.Fprintf(c.Out, "%s deleted%s\n", kindRef(obj), dryRun.Suffix())
		}
	}
	return deleted, nil
}

// cleanupFlags is the --dry-run flag of commands that delete.
type cleanupFlags struct {
	DryRunFlag string
	dryRun     apply.DryRun
}

func (f *cleanupFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.DryRunFlag, "dry-run", "none", "none, client (list only) or server (the API server checks, nothing is deleted)")
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
}

func (f *cleanupFlags) validate() error {
	d, err := apply.ParseDryRun(f.DryRunFlag)
	if err != nil {
		return usageError("%v", err)
	}
	f.dryRun = d
	return nil
}

// sampleResources hold what bookinfo and sample deploy, and the traffic
// config made for them, deleted in this order: traffic config first, so no
// route points at a Service that is already gone, then the pods' owners,
// then what the pods use.
var sampleResources = []schema.GroupVersionResource{
	{Group: policies.IstioNetworkingGroup, Version: "v1", Resource: "virtualservices"},
	{Group: policies.IstioNetworkingGroup, Version: "v1", Resource: "destinationrules"},
	{Group: policies.IstioNetworkingGroup, Version: "v1", Resource: "gateways"},
	canary.HTTPRoutes,
	ingress.KubeGateways,
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "configmaps"},
}

// trafficFor reports whether obj is a DestinationRule or VirtualService
// about one of the services (names in namespace): the DestinationRule's
// host, or a VirtualService's hosts or the hosts it routes to. A canary's
// VirtualService bound to a gateway has hosts "*" and is known by where
// it sends the traffic.
//
// With the Gateway API, canary's traffic config is an HTTPRoute whose
// parent is one of the services and the Services of its versions,
// SERVICE-VERSION.
func trafficFor(obj *unstructured.Unstructured, namespace string, services []string) bool {
	switch obj.GetKind() {
	case policies.KindHTTPRoute:
		return slices.ContainsFunc(services, func(svc string) bool { return canary.ServiceParent(obj, svc) })
	case "Service":
		return slices.ContainsFunc(services, func(svc string) bool { return strings.HasPrefix(obj.GetName(), svc+"-") })
	}
	if obj.GetKind() != policies.KindDestinationRule && obj.GetKind() != policies.KindVirtualService {
		return false
	}
	shape := policies.ShapeOf(policies.NewObject(obj.Object, policies.Source{}))
	hosts := append([]string{shape.Host}, shape.Hosts...)
	for _, d := range shape.Destinations {
		hosts = append(hosts, d.Host)
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		fqdn := policies.ResolveHost(h, namespace, policies.DefaultClusterDomain)
		for _, svc := range services {
			if fqdn == svc+"."+namespace+".svc."+policies.DefaultClusterDomain {
				return true
			}
		}
	}
	return false
}
