package plugin

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
)

// commandEnv is what every command takes from its surroundings: kubectl's
// flags, and the clients and clock built from them. It is the one seam
// through which tests swap in fakes; a nil builder means the real thing,
// built from the flags when a command asks for it, so that commands that
// never reach the cluster never read a kubeconfig.
type commandEnv struct {
	flags *genericclioptions.ConfigFlags
	// newClients replaces the typed and dynamic clients.
	newClients meshClients
	// newHelm replaces the Helm configuration of a release namespace.
	newHelm func(namespace string) (*action.Configuration, error)
	// newMapper replaces the REST mapper.
	newMapper func() (meta.RESTMapper, error)
	// now replaces the clock.
	now func() time.Time
}

// meshClients builds the typed and dynamic clients a command uses.
type meshClients func() (kubernetes.Interface, dynamic.Interface, error)

// clients returns the typed and dynamic clients.
func (e *commandEnv) clients() (kubernetes.Interface, dynamic.Interface, error) {
	if e.newClients != nil {
		return e.newClients()
	}
	return clientsFor(e.flags)()
}

// kube returns the typed client.
func (e *commandEnv) kube() (kubernetes.Interface, error) {
	kube, _, err := e.clients()
	return kube, err
}

// dynamic returns the dynamic client.
func (e *commandEnv) dynamic() (dynamic.Interface, error) {
	_, dyn, err := e.clients()
	return dyn, err
}

// helm returns the Helm action configuration of a release namespace.
func (e *commandEnv) helm(namespace string) (*action.Configuration, error) {
	if e.newHelm != nil {
		return e.newHelm(namespace)
	}
	return helmrelease.Config(e.flags, namespace)
}

// mapper returns the REST mapper, which knows what the cluster serves.
func (e *commandEnv) mapper() (meta.RESTMapper, error) {
	if e.newMapper != nil {
		return e.newMapper()
	}
	return e.flags.ToRESTMapper()
}

// restConfig is the REST configuration kubectl's flags select, for what
// needs more than a client (a port-forward's streams).
func (e *commandEnv) restConfig() (*rest.Config, error) {
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}

// clock returns the time.
func (e *commandEnv) clock() time.Time {
	if e.now != nil {
		return e.now()
	}
	return time.Now()
}

// namespace is -n, else the kubeconfig context's namespace, else default.
func (e *commandEnv) namespace() (string, error) { return namespaceOf(e.flags) }

// clientsFor builds both clients from kubectl's flags (kubeconfig,
// context, --request-timeout, impersonation ...).
func clientsFor(f *genericclioptions.ConfigFlags) meshClients {
	return func() (kubernetes.Interface, dynamic.Interface, error) {
		cfg, err := f.ToRESTConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("loading kubeconfig: %w", err)
		}
		// A change reads the cluster's inventory (seven lists) on top of
		// its own objects: client-go's default of 5 requests per second
		// would make it wait.
		cfg.QPS, cfg.Burst = 50, 100
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, nil, err
		}
		dyn, err := dynamic.NewForConfig(cfg)
		return kube, dyn, err
	}
}

// namespaceOf is -n, else the kubeconfig context's namespace, else default.
func namespaceOf(f *genericclioptions.ConfigFlags) (string, error) {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", usageError("reading the namespace from the kubeconfig: %v", err)
	}
	return ns, nil
}

// explicitNamespace is -n when it was given, else default: for commands
// whose namespace is where files' objects land or a probe runs, which a
// kubeconfig's context must not move unasked.
func explicitNamespace(cmd *cobra.Command, f *genericclioptions.ConfigFlags) string {
	if cmd != nil && cmd.Flags().Changed("namespace") && f.Namespace != nil && *f.Namespace != "" {
		return *f.Namespace
	}
	return metav1.NamespaceDefault
}
