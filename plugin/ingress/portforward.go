package ingress

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Forward opens localPort (0 picks one) on 127.0.0.1 to a ready gateway
// pod's port behind the chosen Service port, and returns the local address
// once the tunnel listens. The tunnel lives until ctx ends.
func Forward(ctx context.Context, config *rest.Config, client kubernetes.Interface, o Options, localPort int, out io.Writer) (Address, <-chan error, error) {
	svc, err := FindService(ctx, client, o)
	if err != nil {
		return Address{}, nil, err
	}
	port, err := servicePort(svc, o.PortName)
	if err != nil {
		return Address{}, nil, err
	}
	pod, err := readyPod(ctx, client, svc)
	if err != nil {
		return Address{}, nil, err
	}
	target, err := containerPort(pod, port.TargetPort, port.Port)
	if err != nil {
		return Address{}, nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(config)
	if err != nil {
		return Address{}, nil, fmt.Errorf("port-forward: %w", err)
	}
	// The tunnel is the API server's pods/portforward subresource, which it
	// proxies to the pod's node.
	reqURL, _, err := rest.DefaultServerUrlFor(config)
	if err != nil {
		return Address{}, nil, fmt.Errorf("port-forward: %w", err)
	}
	reqURL.Path = path.Join(reqURL.Path, "/api/v1/namespaces", pod.Namespace, "pods", pod.Name, "portforward")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, reqURL)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("%d:%d", localPort, target)}, stop, ready, out, out)
	if err != nil {
		return Address{}, nil, fmt.Errorf("port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	go func() { <-ctx.Done(); close(stop) }()
	select {
	case <-ready:
	case err := <-done:
		return Address{}, nil, fmt.Errorf("port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
	case <-ctx.Done():
		return Address{}, nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		return Address{}, nil, fmt.Errorf("port-forward to pod %s/%s: no local port: %v", pod.Namespace, pod.Name, err)
	}
	return Address{Host: "127.0.0.1", Port: int32(ports[0].Local), Source: "port-forward to pod " + pod.Name, Service: svc.Namespace + "/" + svc.Name}, done, nil
}

func readyPod(ctx context.Context, client kubernetes.Interface, svc *corev1.Service) (*corev1.Pod, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("service %s/%s has no selector to find a gateway pod by", svc.Namespace, svc.Name)
	}
	pods, err := client.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return nil, fmt.Errorf("listing the gateway's pods: %w", err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p, nil
			}
		}
	}
	return nil, fmt.Errorf("no ready pod behind service %s/%s (%d pods)", svc.Namespace, svc.Name, len(pods.Items))
}

// containerPort resolves a Service's targetPort, which may name a
// container port, to the number on the pod.
func containerPort(pod *corev1.Pod, target intstr.IntOrString, servicePort int32) (int, error) {
	if target.Type == intstr.Int {
		if target.IntVal == 0 {
			return int(servicePort), nil
		}
		return int(target.IntVal), nil
	}
	if n, err := strconv.Atoi(target.StrVal); err == nil {
		return n, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target.StrVal {
				return int(p.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("pod %s/%s has no container port named %s", pod.Namespace, pod.Name, target.StrVal)
}
