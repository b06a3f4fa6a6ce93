package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/sample"
)

func newSampleCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Deploy and remove sample workloads: Istio's httpbin, fortio and curl, the tutorial's canary, tomcat and nginx",
		Long: `Istio's tasks and the tutorial (docs/workflow.md) send traffic between small
sample workloads:
` + sampleList() + `
Their objects are built by kubectl mesh and labelled
app.kubernetes.io/managed-by=kubectl-mesh and kubectl-mesh.io/sample=NAME,
so cleanup removes exactly them.`,
	}
	cmd.AddCommand(
		newSampleDeployCommand(env, streams),
		newSampleCleanupCommand(env, streams),
	)
	return cmd
}

// sampleList is one line per sample for --help.
func sampleList() string {
	var b strings.Builder
	for _, s := range sample.All() {
		fmt.Fprintf(&b, "  %-8s %s\n", s.Name, s.About)
	}
	return b.String()
}

// sampleNames checks the command's arguments: an unknown name exits 2 with
// the list of samples.
func sampleNames(args []string) ([]string, error) {
	names, err := sample.Resolve(args)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return names, nil
}

// SampleDeployOptions holds `kubectl mesh sample deploy` flags.
type SampleDeployOptions struct {
	namespaceCommon
	applyOutput
	deployFlags

	names []string
}

func newSampleDeployCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SampleDeployOptions{namespaceCommon: newNamespaceCommon(env, streams), deployFlags: defaultDeployFlags()}
	cmd := &cobra.Command{
		Use:   "deploy NAME...",
		Short: "Deploy sample workloads (" + strings.Join(sample.Names(), ", ") + ") and wait until they are available",
		Long: `Create the namespace if needed, enable sidecar injection in it (unless
--no-inject), server-side apply each named sample's objects (ServiceAccount,
ConfigMap, Service, Deployments, Gateway: what it has), and wait until every
Deployment is available. The samples:
` + sampleList(),
		Example: `  kubectl mesh sample deploy httpbin
  kubectl mesh sample deploy httpbin fortio -n default
  kubectl mesh sample deploy canary
  kubectl mesh sample deploy nginx tomcat
  kubectl mesh sample deploy curl --no-inject --timeout 10m
  kubectl mesh sample deploy httpbin --dry-run=client -o yaml`,
		ValidArgs: sample.Names(),
		RunE:      runOptions(o),
	}
	o.deployFlags.addFlags(cmd.Flags())
	o.applyOutput.addFlags(cmd)
	return cmd
}

// Complete resolves the namespace and the samples' names.
func (o *SampleDeployOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError("name the samples to deploy: %s", strings.Join(sample.Names(), ", "))
	}
	names, err := sampleNames(args)
	if err != nil {
		return err
	}
	o.names = names
	return o.complete()
}

// Validate checks the flags.
func (o *SampleDeployOptions) Validate() error {
	if err := o.applyOutput.validate(); err != nil {
		return err
	}
	return o.deployFlags.validate()
}

// Run applies the samples' objects and waits for their Deployments.
func (o *SampleDeployOptions) Run(ctx context.Context) error {
	objs, err := sample.Objects(sample.Options{Namespace: o.namespace}, o.names...)
	if err != nil {
		return err
	}
	groups := groupDeployments(objs, sample.Label, o.names, func(name string) string { return "Sample " + name })
	return o.deploy(ctx, &o.applyOutput, &o.deployFlags, objs, groups,
		"Samples "+strings.Join(o.names, ", ")+" deployed in namespace "+o.namespace)
}

// SampleCleanupOptions holds `kubectl mesh sample cleanup` flags.
type SampleCleanupOptions struct {
	namespaceCommon
	cleanupFlags
	names []string
}

func newSampleCleanupCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SampleCleanupOptions{namespaceCommon: newNamespaceCommon(env, streams)}
	cmd := &cobra.Command{
		Use:   "cleanup [NAME...]",
		Short: "Delete the sample workloads kubectl mesh deployed",
		Long: `Delete the objects of the named samples, or of every sample without a name:
the Gateways, Deployments, Services, ServiceAccounts and ConfigMaps labelled
app.kubernetes.io/managed-by=kubectl-mesh and kubectl-mesh.io/sample=NAME,
and the VirtualServices and DestinationRules kubectl mesh made for their
Services (canary set, resilience). Objects created by hand are left alone.
The namespace stays.`,
		Example: `  kubectl mesh sample cleanup
  kubectl mesh sample cleanup fortio -n default
  kubectl mesh sample cleanup --dry-run=server`,
		ValidArgs: sample.Names(),
		RunE:      runOptions(o),
	}
	o.cleanupFlags.addFlags(cmd)
	return cmd
}

// Complete resolves the samples' names, every sample when none is given,
// and the namespace.
func (o *SampleCleanupOptions) Complete(_ *cobra.Command, args []string) error {
	o.names = sample.Names()
	if len(args) > 0 {
		names, err := sampleNames(args)
		if err != nil {
			return err
		}
		o.names = names
	}
	return o.complete()
}

// Validate checks the flags.
func (o *SampleCleanupOptions) Validate() error { return o.cleanupFlags.validate() }

// Run deletes the objects.
func (o *SampleCleanupOptions) Run(ctx context.Context) error {
	dyn, err := o.env.dynamic()
	if err != nil {
		return err
	}
	var services []string
	for _, n := range o.names {
		s, _ := sample.Lookup(n)
		services = append(services, s.Service)
	}
	deleted, err := o.deleteManaged(ctx, dyn, o.dryRun, sampleResources, func(obj *unstructured.Unstructured) bool {
		return slices.Contains(o.names, obj.GetLabels()[sample.Label]) || trafficFor(obj, o.namespace, services)
	})
	if err != nil {
		return err
	}
	if deleted == 0 {
		fmt.Fprintf(o.ErrOut, "No sample objects (%s) made by kubectl mesh in namespace %s\n", strings.Join(o.names, ", "), o.namespace)
	}
	return nil
}
