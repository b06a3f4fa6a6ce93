// Package sample builds Istio's standard sample workloads, and those of the
// tutorial (docs/workflow.md), as Kubernetes objects: httpbin, the HTTP
// server the traffic-management tasks call; fortio, the load client of the
// circuit-breaking task; curl, a pod to send requests from; canary, the two
// versions of step 8 behind one Service and a Gateway; and tomcat and
// nginx, the pair of steps 10 and 11 where nginx forwards to tomcat. It has
// no command-line plumbing; `kubectl mesh sample` drives it.
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
	"github.com/kubectl-mesh/kubectl-mesh/plugin/ingress"
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
	// EchoImage answers every request with the text of its -text
	// argument: the canary's versions say which one answered, so that
	// `canary verify --match` tells them apart.
	EchoImage   = "hashicorp/http-echo:1.0.0"
	TomcatImage = "tomcat:10.1"
	NginxImage  = "nginx:1.27"

	// FortioProxyConfig has the sidecar keep the outbound cluster stats the
	// circuit-breaking task reads (upstream_rq_pending_overflow).
	FortioProxyConfig = `{"proxyStatsMatcher":{"inclusionPrefixes":["cluster.outbound","cluster_manager","listener_manager","server"]}}`

	// CanaryGateway is the Gateway the canary sample binds to the ingress
	// gateway, for `canary set canary ... --gateway canary-gateway`.
	CanaryGateway = "canary-gateway"
	// EchoPort is the port http-echo listens on by default.
	EchoPort = 5678

	// NginxConfigMap holds nginx's server configuration.
	NginxConfigMap = "nginx-conf"
	// NginxConfig sends every request on to tomcat-svc. HTTP/1.1, because
	// the sidecar answers nginx's default HTTP/1.0 with 426 Upgrade
	// Required; the Host header stays tomcat-svc:8080, which is what the
	// sidecar matches tomcat-svc's VirtualService against.
	NginxConfig = `server {
    listen 80;
    location / {
        proxy_http_version 1.1;
        proxy_pass http://tomcat-svc:8080;
    }
}
`
)

// Sample is one of the workloads.
type Sample struct {
	Name string
	// Service is the Service's name: the sample's, unless it is set
	// otherwise (tomcat's is tomcat-svc, as in the tutorial).
	Service string
	// Port is the Service's port, TargetPort the containers'.
	Port, TargetPort int32
	// About is one line for --help and the docs.
	About string
	// ServiceAccount is true when the sample has its own.
	ServiceAccount bool
	// selector is the Service's selector when it is not app: NAME (the
	// canary's Service selects both versions by apply: canary).
	selector  map[string]string
	workloads []workload
	// config, when set, is a ConfigMap of files every container mounts.
	config *configFiles
	// gateway, when set, is an ingress Gateway of that name.
	gateway string
}

// workload is one Deployment of a sample.
type workload struct {
	name string
	// labels are the pods' labels, which the Deployment selects.
	labels map[string]string
	// stopAtOnce sets terminationGracePeriodSeconds 0 (curl only sleeps).
	stopAtOnce  bool
	container   func() corev1.Container
	annotations map[string]string
}

// configFiles is a ConfigMap mounted read-only at dir.
type configFiles struct {
	name, dir string
	files     map[string]string
}

func echo(version string) workload {
	return workload{name: "app" + version, labels: map[string]string{"app": version, "apply": "canary"},
		container: func() corev1.Container {
			return corev1.Container{Name: "app", Image: EchoImage, Args: []string{"-text=canary " + version},
				Ports: []corev1.ContainerPort{{ContainerPort: EchoPort, Name: "http"}}}
		}}
}

var samples = []Sample{
	{Name: "httpbin", Service: "httpbin", Port: 8000, TargetPort: 8080, ServiceAccount: true,
		About: "HTTP request and response service (go-httpbin), Service port 8000",
		workloads: []workload{{name: "httpbin", labels: map[string]string{"app": "httpbin", "version": "v1"},
			container: func() corev1.Container {
				return corev1.Container{Name: "httpbin", Image: HTTPBinImage,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}
			}}}},
	{Name: "fortio", Service: "fortio", Port: 8080, TargetPort: 8080,
		About: "Fortio load client of the circuit-breaking task, Service port 8080",
		workloads: []workload{{name: "fortio-deploy", labels: map[string]string{"app": "fortio"},
			annotations: map[string]string{"proxy.istio.io/config": FortioProxyConfig},
			container: func() corev1.Container {
				return corev1.Container{Name: "fortio", Image: FortioImage, Args: []string{"server"},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080, Name: "http-fortio"}, {ContainerPort: 8079, Name: "grpc-ping"}}}
			}}}},
	{Name: "curl", Service: "curl", Port: 80, TargetPort: 80, ServiceAccount: true,
		About: "a pod that sleeps, to run curl from (kubectl exec deploy/curl -- curl ...)",
		workloads: []workload{{name: "curl", labels: map[string]string{"app": "curl"}, stopAtOnce: true,
			container: func() corev1.Container {
				return corev1.Container{Name: "curl", Image: CurlImage, Command: []string{"/bin/sleep", "infinity"}}
			}}}},
	{Name: "canary", Service: "canary", Port: 80, TargetPort: EchoPort,
		About:     "the tutorial's canary: appv1 and appv2 (app: v1, v2) behind Service canary port 80, Gateway canary-gateway",
		selector:  map[string]string{"apply": "canary"},
		workloads: []workload{echo("v1"), echo("v2")},
		gateway:   CanaryGateway},
	{Name: "tomcat", Service: "tomcat-svc", Port: 8080, TargetPort: 8080,
		About: "Tomcat behind Service tomcat-svc port 8080, the tutorial's backend",
		workloads: []workload{{name: "tomcat", labels: map[string]string{"app": "tomcat"},
			container: func() corev1.Container {
				// The image ships its default web applications aside;
				// put them back, so that / answers.
				return corev1.Container{Name: "tomcat", Image: TomcatImage,
					Command: []string{"sh", "-c", "cp -r webapps.dist/. webapps/ && exec catalina.sh run"},
					Ports:   []corev1.ContainerPort{{ContainerPort: 8080, Name: "http"}}}
			}}}},
	{Name: "nginx", Service: "nginx-svc", Port: 80, TargetPort: 80,
		About:  "nginx behind Service nginx-svc port 80, forwarding every request to tomcat-svc:8080",
		config: &configFiles{name: NginxConfigMap, dir: "/etc/nginx/conf.d", files: map[string]string{"default.conf": NginxConfig}},
		workloads: []workload{{name: "nginx", labels: map[string]string{"app": "nginx"},
			container: func() corev1.Container {
				return corev1.Container{Name: "nginx", Image: NginxImage,
					Ports: []corev1.ContainerPort{{ContainerPort: 80, Name: "http"}}}
			}}}},
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

// Deployments are the names of the sample's Deployments, in order.
func (s Sample) Deployments() []string {
	out := make([]string, 0, len(s.workloads))
	for _, w := range s.workloads {
		out = append(out, w.name)
	}
	return out
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

// Objects returns the named samples' objects, sample by sample in the
// samples' order: ServiceAccount, ConfigMap, Service, Deployments, then
// the Gateway, so that what a pod mounts exists before it starts.
func Objects(o Options, names ...string) ([]*unstructured.Unstructured, error) {
	names, err := Resolve(names)
	if err != nil {
		return nil, err
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	var out []*unstructured.Unstructured
	for _, n := range names {
		s, _ := Lookup(n)
		objs, err := apply.FromTyped(s.typed(o.Namespace)...)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
		if s.gateway != "" {
			out = append(out, ingress.Gateway(o.Namespace, s.gateway, s.labels(map[string]string{"app": s.Name})))
		}
	}
	return out, nil
}

func (s Sample) typed(ns string) []runtime.Object {
	var out []runtime.Object
	if s.ServiceAccount {
		out = append(out, &corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: ns, Labels: s.labels(nil)},
		})
	}
	if s.config != nil {
		out = append(out, &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: s.config.name, Namespace: ns, Labels: s.labels(map[string]string{"app": s.Name})},
			Data:       s.config.files,
		})
	}
	selector := s.selector
	if selector == nil {
		selector = map[string]string{"app": s.Name}
	}
	out = append(out, &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Service, Namespace: ns,
			Labels: s.labels(map[string]string{"app": s.Name, "service": s.Service})},
		Spec: corev1.ServiceSpec{
			Ports:    []corev1.ServicePort{{Name: "http", Port: s.Port, TargetPort: intstr.FromInt32(s.TargetPort)}},
			Selector: selector,
		},
	})
	for _, w := range s.workloads {
		out = append(out, s.deployment(ns, w))
	}
	return out
}

func (s Sample) deployment(ns string, w workload) *appsv1.Deployment {
	podSpec := corev1.PodSpec{}
	if s.ServiceAccount {
		podSpec.ServiceAccountName = s.Name
	}
	if w.stopAtOnce {
		podSpec.TerminationGracePeriodSeconds = new(int64)
	}
	c := w.container()
	c.ImagePullPolicy = corev1.PullIfNotPresent
	if s.config != nil {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: s.config.dir, ReadOnly: true})
		podSpec.Volumes = append(podSpec.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.config.name}}}})
	}
	podSpec.Containers = []corev1.Container{c}
	replicas := int32(1)
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: ns,
			Labels: s.labels(w.labels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: w.labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: w.labels, Annotations: w.annotations},
				Spec:       podSpec,
			},
		},
	}
}
