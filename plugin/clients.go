package plugin

import (
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// kubeClientFor builds a typed client from kubectl's flags (kubeconfig,
// context, --request-timeout, impersonation ...).
func kubeClientFor(f *genericclioptions.ConfigFlags) (kubernetes.Interface, error) {
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}

// dynamicClientFor builds a dynamic client from kubectl's flags.
func dynamicClientFor(f *genericclioptions.ConfigFlags) (dynamic.Interface, error) {
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return dynamic.NewForConfig(cfg)
}

// releaseAccess reaches the cluster for the commands that manage Helm
// releases; defaults builds each from kubectl's flags, tests set their own.
type releaseAccess struct {
	actionConfig  func(namespace string) (*action.Configuration, error)
	kubeClient    func() (kubernetes.Interface, error)
	dynamicClient func() (dynamic.Interface, error)
}

func (c *releaseAccess) defaults(f *genericclioptions.ConfigFlags) {
	if c.actionConfig == nil {
		c.actionConfig = func(ns string) (*action.Configuration, error) { return helmConfig(f, ns) }
	}
	if c.kubeClient == nil {
		c.kubeClient = func() (kubernetes.Interface, error) { return kubeClientFor(f) }
	}
	if c.dynamicClient == nil {
		c.dynamicClient = func() (dynamic.Interface, error) { return dynamicClientFor(f) }
	}
}
