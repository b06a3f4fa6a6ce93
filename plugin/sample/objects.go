// Package sample builds Istio's standard sample workloads as Kubernetes
// objects: httpbin, the HTTP server the traffic-management tasks call;
// fortio, the load client of the circuit-breaking task; and curl, a pod to
// send requests from. It has no command-line plumbing; `kubectl mesh
// sample` drives it.
package sample

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadjob"
)

const (
	// Label names the sample an object belongs to, so cleanup removes one
	// sample and leaves the others; ManagedByLabel is set too.
	Label = "kubectl-mesh.io/sample"

	// Images, without a registry host: the cluster's configured registry
	// resolves them. Fortio runs the version the plugin embeds.
	HTTPBinImage = "mccutchen/go-httpbin:v2.15.0"
	FortioImage  = loadjob.DefaultImage
	CurlImage    = "curlimages/curl:8.11.1"

	// FortioProxyConfig has the sidecar keep the outbound cluster stats the
	// circuit-breaking task reads (upstream_rq_pending_overflow).
	FortioProxyConfig = `{"proxyStatsMatcher":{"inclusionPrefixes":["cluster.outbound","cluster_manager","listener_manager","server"]}}`
)

// Sample is one of the workloads.
type Sample struct {
	Name string
	// Deployment is the Deployment's name (fortio's is fortio-deploy).
	Deployment string
	// Port is the Service's port, TargetPort the container's.
	Port, TargetPort int32
	// About is one line for --help and the docs.
	About string
	// ServiceAccount is true when the sample has its own.
	ServiceAccount bool
	// Version is the pods' version label, when the sample has one.
	Version string
	// StopAtOnce sets terminationGracePeriodSeconds 0 (curl only sleeps).
	StopAtOnce  bool
	container   func() corev1.Container
	annotations map[string]string
}

var samples = []Sample{
	{Name: "httpbin", Deployment: "httpbin", Port: 8000, TargetPort: 8080, ServiceAccount: true, Version: "v1",
		About: "HTTP request and response service (go-httpbin), Service port 8000",
		container: func() corev1.Container {
			return corev1.Container{Name: "httpbin", Image: HTTPBinImage,
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}
		}},
	{Name: "fortio", Deployment: "fortio-deploy", Port: 8080, TargetPort: 8080,
		About:       "Fortio load client of the circuit-breaking task, Service port 8080",
		annotations: map[string]string{"proxy.istio.io/config": FortioProxyConfig},
		container: func() corev1.Container {
			return corev1.Container{Name: "fortio", Image: FortioImage, Args: []string{"server"},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080, Name: "http-fortio"}, {ContainerPort: 8079, Name: "grpc-ping"}}}
		}},
	{Name: "curl", Deployment: "curl", Port: 80, TargetPort: 80, ServiceAccount: true, StopAtOnce: true,
		About: "a pod that sleeps, to run curl from (kubectl exec deploy/curl -- curl ...)",
		container: func() corev1.Container {
			return corev1.Container{Name: "curl", Image: CurlImage, Command: []string{"/bin/sleep", "infinity"}}
		}},
}

// All returns the samples in the order they are listed and deployed.
func All() []Sample { return append([]Sample(nil), samples...) }

// Names are the samples' names, in order.
func Names() []string {
	out := make([]string, 0, len(samples))
	for _, s := range samples {
		out = append(out, s.Name)
	}
	return out
}

// Lookup returns the named sample.
func Lookup(name string) (Sample, bool) {
	for _, s := range samples {
		if s.Name == name {
			return s, true
		}
	}
	return Sample{}, false
}

// Resolve checks names and returns them in the samples' order, without
// repeats; an unknown name is an error that lists the known ones.
func Resolve(names []string) ([]string, error) {
	want := map[string]bool{}
	var unknown []string
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			unknown = append(unknown, n)
		}
		want[n] = true
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown sample %s: the samples are %s", strings.Join(unknown, ", "), strings.Join(Names(), ", "))
	}
	var out []string
	for _, s := range samples {
		if want[s.Name] {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// Options shape the objects.
type Options struct {
	Namespace string
}

func (s Sample) labels(l map[string]string) map[string]string {
	out := map[string]string{apply.ManagedByLabel: apply.ManagedBy, Label: s.Name}
	for k, v := range l {
		out[k] = v
	}
	return out
}

// Objects returns the named samples' ServiceAccounts, Services and
// Deployments, sample by sample, in the samples' order.
func Objects(o Options, names ...string) ([]*unstructured.Unstructured, error) {
	names, err := Resolve(names)
	if err != nil {
		return nil, err
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	var typed []runtime.Object
	for _, n := range names {
		s, _ := Lookup(n)
		typed = append(typed, s.typed(o.Namespace)...)
	}
	return apply.FromTyped(typed...)
}

func (s Sample) typed(ns string) []runtime.Object {
	var out []runtime.Object
	podSpec := corev1.PodSpec{}
	if s.ServiceAccount {
		out = append(out, &corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: s.labels(nil)},
		})
		podSpec.ServiceAccountName = s.Name
	}
	out = append(out, &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: ns,
			Labels: s.labels(map[string]string{"app": s.Name, "service": s.Name})},
		Spec: corev1.ServiceSpec{
			Ports:    []corev1.ServicePort{{Name: "http", Port: s.Port, TargetPort: intstr.FromInt32(s.TargetPort)}},
			Selector: map[string]string{"app": s.Name},
		},
	})
	podLabels := map[string]string{"app": s.Name}
	if s.Version != "" {
		podLabels["version"] = s.Version
	}
	if s.StopAtOnce {
		podSpec.TerminationGracePeriodSeconds = new(int64)
	}
	c := s.container()
	c.ImagePullPolicy = corev1.PullIfNotPresent
	podSpec.Containers = []corev1.Container{c}
	replicas := int32(1)
	out = append(out, &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Deployment, Namespace: ns,
			Labels: s.labels(podLabels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: s.annotations},
				Spec:       podSpec,
			},
		},
	})
	return out
}
