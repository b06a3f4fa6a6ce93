package ingress

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// KubeGateways is the Gateway API's Gateway resource.
var KubeGateways = schema.GroupVersionResource{Group: policies.GatewayAPIGroup, Version: "v1", Resource: "gateways"}

// KubeGatewayRef names a Gateway API Gateway; Name "" is the namespace's
// only Gateway.
type KubeGatewayRef struct {
	Namespace, Name string
	// Listener is the listener to reach by name; "" is the first HTTP
	// listener (else the first one).
	Listener string
}

// ResolveKubeGateway finds what users read by hand for a Gateway API
// Gateway: its status.addresses, when one is reachable from outside the
// cluster, and the Service that Istio's automated deployment made for it
// (<name>-<gatewayClassName>), as Options for Find and Forward with the
// port of the chosen listener.
func ResolveKubeGateway(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ref KubeGatewayRef) (Options, *Address, error) {
	gw, err := getKubeGateway(ctx, dyn, ref)
	if err != nil {
		return Options{}, nil, err
	}
	ns, name := gw.GetNamespace(), gw.GetName()
	listener, err := pickListener(gw, ref.Listener)
	if err != nil {
		return Options{}, nil, err
	}
	port, _, _ := unstructured.NestedInt64(listener, "port")
	class, _, _ := unstructured.NestedString(gw.Object, "spec", "gatewayClassName")
	opts := Options{Namespace: ns, Service: name + "-" + class}
	var status *Address
	addresses, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
	for _, a := range addresses {
		m, _ := a.(map[string]any)
		kind, _ := m["type"].(string)
		value, _ := m["value"].(string)
		// Istio reports the Service's cluster-local name when there is no
		// load balancer: an address that only resolves inside the cluster.
		if value == "" || (kind != "" && kind != "IPAddress" && kind != "Hostname") || strings.Contains(value, ".svc.") {
			continue
		}
		status = &Address{Host: value, Port: int32(port), Source: "Gateway status", Service: ns + "/" + opts.Service}
		break
	}
	svc, err := kube.CoreV1().Services(ns).Get(ctx, opts.Service, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && status != nil:
		return opts, status, nil
	case apierrors.IsNotFound(err):
		return Options{}, nil, fmt.Errorf("%w: Gateway %s/%s reports no address and its Service %s/%s does not exist (is Istio running, and gatewayClassName %q Istio's?)", ErrNoAddress, ns, name, ns, opts.Service, class)
	case err != nil:
		return Options{}, nil, fmt.Errorf("reading service %s/%s: %w", ns, opts.Service, err)
	}
	for _, p := range svc.Spec.Ports {
		if int64(p.Port) == port {
			opts.PortName = p.Name
		}
	}
	if opts.PortName == "" {
		return Options{}, nil, fmt.Errorf("service %s/%s has no port %d, the port of Gateway %s/%s's listener", ns, opts.Service, port, ns, name)
	}
	return opts, status, nil
}

// FindKubeGateway returns a Gateway API Gateway's external address: from
// its status, else its Service's load balancer, external IPs or nodePort.
func FindKubeGateway(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ref KubeGatewayRef) (Address, error) {
	opts, status, err := ResolveKubeGateway(ctx, kube, dyn, ref)
	if err != nil {
		return Address{}, err
	}
	if status != nil {
		return *status, nil
	}
	return Find(ctx, kube, opts)
}

func getKubeGateway(ctx context.Context, dyn dynamic.Interface, ref KubeGatewayRef) (*unstructured.Unstructured, error) {
	client := dyn.Resource(KubeGateways).Namespace(ref.Namespace)
	if ref.Name != "" {
		gw, err := client.Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Gateway %s/%s (%s) not found", ref.Namespace, ref.Name, KubeGateways.GroupResource())
		}
		if err != nil {
			return nil, fmt.Errorf("reading Gateway %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		return gw, nil
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the cluster does not serve %s: are the Gateway API's CRDs installed? (kubectl mesh install --gateway-api)", KubeGateways.GroupResource())
	}
	if err != nil {
		return nil, fmt.Errorf("listing Gateways of %s: %w", ref.Namespace, err)
	}
	switch len(list.Items) {
	case 0:
		return nil, fmt.Errorf("no Gateway (%s) in namespace %s", KubeGateways.GroupResource(), ref.Namespace)
	case 1:
		return &list.Items[0], nil
	}
	names := make([]string, 0, len(list.Items))
	for _, g := range list.Items {
		names = append(names, g.GetName())
	}
	return nil, fmt.Errorf("several Gateways in namespace %s (%s): name one with --gateway", ref.Namespace, strings.Join(names, ", "))
}

// pickListener returns the listener by name, else the first HTTP one,
// else the first.
func pickListener(gw *unstructured.Unstructured, name string) (map[string]any, error) {
	listeners, _, _ := unstructured.NestedSlice(gw.Object, "spec", "listeners")
	var first, firstHTTP map[string]any
	var names []string
	for _, l := range listeners {
		m, _ := l.(map[string]any)
		n, _ := m["name"].(string)
		names = append(names, n)
		if name != "" && n == name {
			return m, nil
		}
		if p, _ := m["protocol"].(string); p == "HTTP" && firstHTTP == nil {
			firstHTTP = m
		}
		if first == nil {
			first = m
		}
	}
	switch {
	case name != "":
		return nil, fmt.Errorf("Gateway %s/%s has no listener %s (listeners: %s)", gw.GetNamespace(), gw.GetName(), name, strings.Join(names, ", "))
	case firstHTTP != nil:
		return firstHTTP, nil
	case first != nil:
		return first, nil
	}
	return nil, fmt.Errorf("Gateway %s/%s has no listeners", gw.GetNamespace(), gw.GetName())
}
