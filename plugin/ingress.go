package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/ingress"
)

// IngressURLOptions holds the flags of `kubectl mesh ingress url` and
// `kubectl mesh bookinfo url`, which differ only in the path they print.
type IngressURLOptions struct {
	env *commandEnv
	genericiooptions.IOStreams

	Gateway     ingress.Options
	PortForward bool
	LocalPort   int
	Output      string
	// API gateway finds a Gateway API Gateway, KubeGateway, in the
	// namespace instead of Istio's ingress gateway Service.
	API         string
	KubeGateway ingress.KubeGatewayRef
	// Path is appended to the printed URL (/productpage for Bookinfo).
	Path string
}

func newIngressURLOptions(env *commandEnv, streams genericiooptions.IOStreams, path, kubeGateway string) *IngressURLOptions {
	return &IngressURLOptions{env: env, IOStreams: streams, Gateway: ingress.DefaultOptions(), Path: path, Output: "url",
		KubeGateway: ingress.KubeGatewayRef{Name: kubeGateway}}
}

func (o *IngressURLOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Gateway.Namespace, "gateway-namespace", o.Gateway.Namespace, "Namespace of the ingress gateway's Service")
	f.StringVar(&o.Gateway.Service, "gateway-service", o.Gateway.Service, "Name of the ingress gateway's Service")
	f.StringVar(&o.Gateway.Selector, "gateway-selector", o.Gateway.Selector, "Labels that find the gateway's Service when none has --gateway-service's name")
	f.StringVar(&o.Gateway.PortName, "port-name", o.Gateway.PortName, "Service port to reach: http2 for HTTP, https for TLS")
	f.BoolVar(&o.PortForward, "port-forward", false, "Forward a local port to a gateway pod instead, and keep it open until interrupted")
	f.IntVar(&o.LocalPort, "local-port", 0, "Local port of --port-forward (0 picks a free one)")
	f.StringVarP(&o.Output, "output", "o", o.Output, "url, env (export GATEWAY_URL=host:port) or json")
	addAPIFlag(cmd, &o.API, "the address of a Gateway in the namespace (-n)")
	gatewayHelp := "With --api gateway: the Gateway's name (default: the namespace's only Gateway)"
	if o.KubeGateway.Name != "" {
		gatewayHelp = "With --api gateway: the Gateway's name"
	}
	f.StringVar(&o.KubeGateway.Name, "gateway", o.KubeGateway.Name, gatewayHelp)
}

// Complete resolves the namespace of a Gateway API Gateway; --port-name
// names its listener only when given, since http2 is Istio's port name.
func (o *IngressURLOptions) Complete(cmd *cobra.Command, _ []string) error {
	if o.API != apiGateway {
		return nil
	}
	if cmd.Flags().Changed("port-name") {
		o.KubeGateway.Listener = o.Gateway.PortName
	}
	ns, err := o.env.namespace()
	o.KubeGateway.Namespace = ns
	return err
}

// Validate checks the flags.
func (o *IngressURLOptions) Validate() error {
	switch o.Output {
	case "url", "env", "json":
	default:
		return usageError("--output must be url, env or json, not %q", o.Output)
	}
	if o.LocalPort < 0 || o.LocalPort > 65535 {
		return usageError("--local-port must be between 0 and 65535, not %d", o.LocalPort)
	}
	if o.LocalPort != 0 && !o.PortForward {
		return usageError("--local-port only goes with --port-forward")
	}
	return validateAPI(o.API)
}

// gateway returns the Options of the gateway's Service, and for a Gateway
// API Gateway the address its status reports, if any.
func (o *IngressURLOptions) gateway(ctx context.Context, client kubernetes.Interface) (ingress.Options, *ingress.Address, error) {
	if o.API != apiGateway {
		return o.Gateway, nil, nil
	}
	dyn, err := o.env.dynamic()
	if err != nil {
		return ingress.Options{}, nil, err
	}
	return ingress.ResolveKubeGateway(ctx, client, dyn, o.KubeGateway)
}

// Run finds the address (or opens the tunnel) and prints it.
func (o *IngressURLOptions) Run(ctx context.Context) error {
	client, err := o.env.kube()
	if err != nil {
		return err
	}
	gateway, status, err := o.gateway(ctx, client)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if !o.PortForward {
		if status != nil {
			return o.print(*status)
		}
		addr, err := ingress.Find(ctx, client, gateway)
		if err != nil {
			return &ExitError{Code: ExitFailed, Err: err}
		}
		return o.print(addr)
	}
	config, err := o.env.restConfig()
	if err != nil {
		return err
	}
	addr, done, err := ingress.Forward(ctx, config, client, gateway, o.LocalPort, o.ErrOut)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if err := o.print(addr); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "Forwarding %s to %s; press Ctrl-C to stop\n", addr.HostPort(), addr.Source)
	if err := <-done; err != nil {
		return fmt.Errorf("port-forward: %w", err)
	}
	return nil
}

func (o *IngressURLOptions) print(addr ingress.Address) error {
	url := "http://" + addr.HostPort() + o.Path
	switch o.Output {
	case "env":
		_, err := fmt.Fprintf(o.Out, "export GATEWAY_URL=%s\n", addr.HostPort())
		return err
	case "json":
		return printJSON(o.Out, map[string]any{
			"host": addr.Host, "port": addr.Port, "source": addr.Source, "service": addr.Service,
			"gatewayURL": addr.HostPort(), "url": url,
		})
	}
	_, err := fmt.Fprintln(o.Out, url)
	return err
}

func newIngressCommand(env *commandEnv, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingress",
		Short: "Find the address of Istio's ingress gateway",
	}
	o := newIngressURLOptions(env, streams, "", "")
	url := &cobra.Command{
		Use:   "url",
		Short: "Print the ingress gateway's external address",
		Long: `Print the address clients outside the cluster reach Istio's ingress gateway at:
the Service's load balancer IP or hostname; else its external IPs; else (a
load balancer still pending, or a NodePort Service) a node's address with the
nodePort of the http2 port, preferring a node that runs a gateway pod and its
external IP. --port-forward opens a local port to a gateway pod instead.

With --api gateway, the address of a Kubernetes Gateway API Gateway in the
namespace (-n; --gateway names it): its status.addresses when one is
reachable from outside the cluster, else the same search over the Service
Istio deployed for it, <gateway>-<gatewayClassName> (bookinfo-gateway-istio),
on the port of its first HTTP listener (--port-name names another listener).`,
		Example: `  kubectl mesh ingress url
  eval "$(kubectl mesh ingress url -o env)" && curl -s "http://$GATEWAY_URL/productpage"
  kubectl mesh ingress url --port-name https
  kubectl mesh ingress url --port-forward --local-port 8080
  kubectl mesh ingress url --api gateway --gateway bookinfo-gateway -n bookinfo`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	o.addFlags(url)
	cmd.AddCommand(url)
	return cmd
}
