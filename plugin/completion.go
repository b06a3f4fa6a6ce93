package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// completionShells are the shells cobra writes completion scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// CompletionOptions holds `kubectl mesh completion` flags.
type CompletionOptions struct {
	genericiooptions.IOStreams

	Shell          string
	NoDescriptions bool

	// root is the command the script completes.
	root *cobra.Command
}

func newCompletionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &CompletionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script of kubectl-mesh",
		Long: `Print the completion script of a shell for the kubectl-mesh command.

"kubectl mesh <TAB>" is completed by kubectl's own completion (kubectl 1.26
or later, set up with "kubectl completion SHELL"): kubectl asks kubectl-mesh
for the choices through the kubectl_complete-mesh helper, which must be on
PATH. The release archives carry it; after "kubectl krew install mesh", copy
it into krew's bin folder as the install message says. The scripts printed
here complete kubectl-mesh when it runs on its own.

Namespaces (-n), contexts, clusters and users are completed from the
kubeconfig and the cluster; commands complete Services and subsets.`,
		Example: `  # bash (with the bash-completion package), in this shell
  source <(kubectl mesh completion bash)

  # zsh, for every new shell
  kubectl mesh completion zsh > "${fpath[1]}/_kubectl-mesh"

  # fish
  kubectl mesh completion fish > ~/.config/fish/completions/kubectl-mesh.fish

  # PowerShell
  kubectl mesh completion powershell | Out-String | Invoke-Expression`,
		ValidArgs:             completionShells,
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		DisableFlagsInUseLine: true,
		RunE:                  runOptions(o),
	}
	cmd.Flags().BoolVar(&o.NoDescriptions, "no-descriptions", false, "Leave the descriptions of the choices out")
	return cmd
}

// Complete reads the shell and finds the root: the script completes the
// whole program, not this command.
func (o *CompletionOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Shell = args[0]
	o.root = cmd.Root()
	return nil
}

// Validate has nothing to check: cobra took only the shells it knows, and
// writeCompletionScript refuses any other.
func (o *CompletionOptions) Validate() error { return nil }

// Run writes the script.
func (o *CompletionOptions) Run(context.Context) error {
	return writeCompletionScript(o.root, o.Shell, o.Out, !o.NoDescriptions)
}

// writeCompletionScript writes cobra's script for shell. The scripts are
// named after the root command, kubectl-mesh: the program the shell runs.
func writeCompletionScript(root *cobra.Command, shell string, w io.Writer, descriptions bool) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, descriptions)
	case "zsh":
		if descriptions {
			return root.GenZshCompletion(w)
		}
		return root.GenZshCompletionNoDesc(w)
	case "fish":
		return root.GenFishCompletion(w, descriptions)
	case "powershell":
		if descriptions {
			return root.GenPowerShellCompletionWithDesc(w)
		}
		return root.GenPowerShellCompletion(w)
	}
	return usageError("no completion for shell %q; use one of %s", shell, strings.Join(completionShells, ", "))
}

// completionTimeout bounds each look-up a completion makes in the cluster:
// a shell waiting on an unreachable cluster is worse than no choices.
const completionTimeout = 5 * time.Second

// completer offers names from the kubeconfig and the cluster that kubectl's
// flags select. Completions never fail loudly: when a look-up fails they
// offer nothing, and the shell falls back to nothing either.
type completer struct {
	env *commandEnv
}

func newCompleter(env *commandEnv) *completer { return &completer{env: env} }

// registerFlagCompletions completes kubectl's flags that name things:
// --namespace from the cluster, --context, --cluster and --user from the
// kubeconfig. It is called on the root, whose persistent flags they are.
func registerFlagCompletions(root *cobra.Command, env *commandEnv) error {
	c := newCompleter(env)
	for flag, fn := range map[string]cobra.CompletionFunc{
		"namespace": c.namespaces,
		"context":   c.kubeconfigNames(func(cfg *clientcmdapi.Config) []string { return slices.Collect(maps.Keys(cfg.Contexts)) }),
		"cluster":   c.kubeconfigNames(func(cfg *clientcmdapi.Config) []string { return slices.Collect(maps.Keys(cfg.Clusters)) }),
		"user":      c.kubeconfigNames(func(cfg *clientcmdapi.Config) []string { return slices.Collect(maps.Keys(cfg.AuthInfos)) }),
	} {
		if err := root.RegisterFlagCompletionFunc(flag, fn); err != nil {
			return fmt.Errorf("completion of --%s: %w", flag, err)
		}
	}
	return nil
}

// completeNamespaces completes namespace names, for a positional argument
// (inject's NAMESPACE, for one).
func completeNamespaces(env *commandEnv) cobra.CompletionFunc {
	return newCompleter(env).namespaces
}

// completeServices completes the names of the Services in the namespace
// that kubectl's flags select (-n, else the context's).
func completeServices(env *commandEnv) cobra.CompletionFunc {
	return newCompleter(env).services
}

// completeSubsets completes the subset names that DestinationRules define
// for the Service named by positional argument serviceArg (a short name,
// resolved in the selected namespace, or a host).
func completeSubsets(env *commandEnv, serviceArg int) cobra.CompletionFunc {
	return newCompleter(env).subsets(serviceArg)
}

// completeArgs completes positional argument i with fns[i] and offers
// nothing past them, e.g. for `canary set SERVICE SUBSET`:
//
//	ValidArgsFunction: completeArgs(completeServices(env), completeSubsets(env, 0))
func completeArgs(fns ...cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(fns) || fns[len(args)] == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fns[len(args)](cmd, args, toComplete)
	}
}

// lookupContext bounds a completion's cluster look-ups.
func lookupContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	if cmd != nil && cmd.Context() != nil {
		ctx = cmd.Context()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

// namespace is the namespace kubectl's flags select: -n, else the
// context's, else default.
func (c *completer) namespace() string {
	ns, _, err := c.env.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		return metav1.NamespaceDefault
	}
	return ns
}

func (c *completer) namespaces(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return c.clusterNames(func(ctx context.Context, client kubernetes.Interface) ([]string, error) {
		list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return objectNames(list.Items, func(ns *corev1.Namespace) string { return ns.Name }), nil
	})(cmd, args, toComplete)
}

func (c *completer) services(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return c.clusterNames(func(ctx context.Context, client kubernetes.Interface) ([]string, error) {
		list, err := client.CoreV1().Services(c.namespace()).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return objectNames(list.Items, func(svc *corev1.Service) string { return svc.Name }), nil
	})(cmd, args, toComplete)
}

// clusterNames completes the names list reads with the typed client.
func (c *completer) clusterNames(list func(context.Context, kubernetes.Interface) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := lookupContext(cmd)
		defer cancel()
		client, err := c.env.kube()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, err := list(ctx, client)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func objectNames[T any](items []T, name func(*T) string) []string {
	names := make([]string, len(items))
	for i := range items {
		names[i] = name(&items[i])
	}
	return names
}

func (c *completer) subsets(serviceArg int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if serviceArg < 0 || serviceArg >= len(args) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := lookupContext(cmd)
		defer cancel()
		client, err := c.env.dynamic()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		subsets, err := serviceSubsets(ctx, client, c.namespace(), args[serviceArg])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range subsets {
			if strings.HasPrefix(s.name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(s.name, "DestinationRule "+s.rule))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// subsetRef is a subset and the DestinationRule (namespace/name) defining it.
type subsetRef struct{ name, rule string }

var destinationRuleVersions = []string{"v1", "v1beta1", "v1alpha3"}

// serviceSubsets lists the subsets that DestinationRules visible from
// namespace ns define for service, looking where Istio looks: ns, the
// Service's namespace, then the root namespace; a subset name is reported
// once, from the first rule defining it.
func serviceSubsets(ctx context.Context, client dynamic.Interface, ns, service string) ([]subsetRef, error) {
	domain := policies.DefaultClusterDomain
	host := policies.ResolveHost(service, ns, domain)
	search := []string{ns}
	if svcNS, _, ok := policies.ServiceFromFQDN(host, domain); ok && svcNS != ns {
		search = append(search, svcNS)
	}
	if ns != policies.DefaultRootNamespace {
		search = append(search, policies.DefaultRootNamespace)
	}
	var out []subsetRef
	seen := map[string]bool{}
	for _, namespace := range search {
		rules, err := listDestinationRules(ctx, client, namespace)
		if err != nil {
			return nil, err
		}
		for _, dr := range rules {
			ruleHost, _, _ := unstructured.NestedString(dr.Object, "spec", "host")
			exportTo, _, _ := unstructured.NestedStringSlice(dr.Object, "spec", "exportTo")
			if !policies.HostCovers(policies.ResolveHost(ruleHost, namespace, domain), host) ||
				!policies.ExportedTo(exportTo, namespace, ns) {
				continue
			}
			subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
			for _, s := range subsets {
				m, _ := s.(map[string]any)
				name, _ := m["name"].(string)
				if name == "" || seen[name] {
					continue
				}
				seen[name] = true
				out = append(out, subsetRef{name: name, rule: namespace + "/" + dr.GetName()})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// listDestinationRules lists a namespace's DestinationRules in the newest
// API version the cluster serves; none without Istio's CRDs.
func listDestinationRules(ctx context.Context, client dynamic.Interface, ns string) ([]unstructured.Unstructured, error) {
	for _, v := range destinationRuleVersions {
		gvr := schema.GroupVersionResource{Group: policies.IstioNetworkingGroup, Version: v, Resource: "destinationrules"}
		list, err := client.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing DestinationRules in %s: %w", ns, err)
		}
		return list.Items, nil
	}
	return nil, nil
}

// kubeconfigNames completes the names pick takes from the kubeconfig that
// kubectl's flags load (--kubeconfig, else KUBECONFIG, else ~/.kube/config).
func (c *completer) kubeconfigNames(pick func(*clientcmdapi.Config) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, err := c.env.flags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(pick(&cfg), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix keeps the names starting with prefix, sorted.
func withPrefix(names []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
