// Package ingress finds the address of Istio's ingress gateway the way
// users do by hand: the Service's load balancer IP or hostname, else its
// external IPs, else a node's address and the port's nodePort. It also
// port-forwards to a gateway pod and fetches pages through the address.
package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Options say which Service is the gateway and which of its ports to use.
type Options struct {
	// Namespace and Service name the gateway's Service; when no Service
	// has that name, the one Service matching Selector is used.
	Namespace string
	Service   string
	Selector  string
	// PortName is the Service port to reach (http2 for plain HTTP in
	// Istio's gateways, https for TLS); port 80 is the fallback.
	PortName string
}

// DefaultOptions are those of Istio's ingress gateway.
func DefaultOptions() Options {
	return Options{Namespace: "istio-system", Service: "istio-ingressgateway", Selector: "istio=ingressgateway", PortName: "http2"}
}

// Address is where the gateway answers from outside the cluster.
type Address struct {
	Host string
	Port int32
	// Source says how it was found: LoadBalancer, externalIPs or NodePort.
	Source string
	// Service is namespace/name of the gateway Service.
	Service string
}

// HostPort is the GATEWAY_URL users export: host:port, IPv6 bracketed.
func (a Address) HostPort() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port)))
}

// ErrNoAddress means the gateway has no address reachable from outside.
var ErrNoAddress = errors.New("the ingress gateway has no external address")

// FindService returns the gateway Service.
func FindService(ctx context.Context, client kubernetes.Interface, o Options) (*corev1.Service, error) {
	svc, err := client.CoreV1().Services(o.Namespace).Get(ctx, o.Service, metav1.GetOptions{})
	if err == nil {
		return svc, nil
	}
	if !apierrors.IsNotFound(err) || o.Selector == "" {
		return nil, fmt.Errorf("reading service %s/%s: %w", o.Namespace, o.Service, err)
	}
	list, lerr := client.CoreV1().Services(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if lerr != nil {
		return nil, fmt.Errorf("listing services %s in %s: %w", o.Selector, o.Namespace, lerr)
	}
	switch len(list.Items) {
	case 0:
		return nil, fmt.Errorf("no ingress gateway: service %s/%s not found and no service in %s has labels %s (is Istio installed? kubectl mesh install)", o.Namespace, o.Service, o.Namespace, o.Selector)
	case 1:
		return &list.Items[0], nil
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("several services in %s have labels %s (%s): name one with --service", o.Namespace, o.Selector, strings.Join(names, ", "))
}

// servicePort picks the port by name, else port 80.
func servicePort(svc *corev1.Service, name string) (corev1.ServicePort, error) {
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p, nil
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == 80 {
			return p, nil
		}
	}
	var have []string
	for _, p := range svc.Spec.Ports {
		have = append(have, fmt.Sprintf("%s(%d)", p.Name, p.Port))
	}
	return corev1.ServicePort{}, fmt.Errorf("service %s/%s has no port named %s nor port 80 (ports: %s)", svc.Namespace, svc.Name, name, strings.Join(have, ", "))
}

// Find returns the gateway's external address.
func Find(ctx context.Context, client kubernetes.Interface, o Options) (Address, error) {
	svc, err := FindService(ctx, client, o)
	if err != nil {
		return Address{}, err
	}
	port, err := servicePort(svc, o.PortName)
	if err != nil {
		return Address{}, err
	}
	addr := Address{Port: port.Port, Service: svc.Namespace + "/" + svc.Name}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP != "" || ing.Hostname != "" {
			addr.Host, addr.Source = ing.IP, "LoadBalancer"
			if addr.Host == "" {
				addr.Host = ing.Hostname
			}
			return addr, nil
		}
	}
	if len(svc.Spec.ExternalIPs) > 0 {
		addr.Host, addr.Source = svc.Spec.ExternalIPs[0], "externalIPs"
		return addr, nil
	}
	if port.NodePort == 0 {
		return Address{}, fmt.Errorf("%w: service %s is %s, without a load balancer address, external IPs or a nodePort on port %s; use --port-forward", ErrNoAddress, addr.Service, svc.Spec.Type, port.Name)
	}
	host, err := nodeAddress(ctx, client, svc)
	if err != nil {
		return Address{}, err
	}
	addr.Host, addr.Port, addr.Source = host, port.NodePort, "NodePort"
	return addr, nil
}

// nodeAddress prefers a node that runs a gateway pod, and a node's
// external IP over its internal one, as users pick them by hand.
func nodeAddress(ctx context.Context, client kubernetes.Interface, svc *corev1.Service) (string, error) {
	preferred := map[string]bool{}
	if len(svc.Spec.Selector) > 0 {
		pods, err := client.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
		if err != nil {
			return "", fmt.Errorf("listing the gateway's pods: %w", err)
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				preferred[p.Spec.NodeName] = true
			}
		}
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing nodes for the nodePort's address: %w", err)
	}
	best, bestRank := "", 0
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			rank := 0
			switch a.Type {
			case corev1.NodeExternalIP:
				rank = 4
			case corev1.NodeInternalIP:
				rank = 2
			default:
				continue
			}
			if preferred[n.Name] {
				rank++
			}
			if rank > bestRank {
				best, bestRank = a.Address, rank
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: service %s/%s has nodePorts but no node reports an IP address", ErrNoAddress, svc.Namespace, svc.Name)
	}
	return best, nil
}
