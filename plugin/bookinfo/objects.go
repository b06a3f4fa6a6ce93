// Package bookinfo builds Istio's Bookinfo sample application as Kubernetes
// and Istio objects: productpage calls details and reviews; reviews v1
// shows no stars, v2 and v3 call ratings and show black and red stars.
// It has no command-line plumbing; `kubectl mesh bookinfo` drives it.
package bookinfo

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/ingress"
)

const (
	// ManagedByLabel marks what kubectl-mesh created, so cleanup finds it.
	ManagedByLabel = apply.ManagedByLabel
	// ManagedBy is ManagedByLabel's value.
	ManagedBy = apply.ManagedBy
	// PartOfLabel groups Bookinfo's objects among everything kubectl-mesh manages.
	PartOfLabel = "app.kubernetes.io/part-of"
	// PartOf is PartOfLabel's value.
	PartOf = "bookinfo"

	// Port is the port every Bookinfo service listens on.
	Port = 9080
	// DefaultHub is where Istio publishes the example images.
	DefaultHub = "istio"
	// DefaultImageTag is the newest published Bookinfo image version.
	DefaultImageTag = "1.20.3"
	// GatewayName and VirtualServiceName are the objects `expose` creates.
	GatewayName        = "bookinfo-gateway"
	VirtualServiceName = "bookinfo"
	// HTTPRouteName is the route `expose --api gateway` creates.
	HTTPRouteName = "bookinfo"
	// Title is what productpage's HTML title says when the app works.
	Title = "Simple Bookstore App"
)

// Services are Bookinfo's services, in the order a user reads them.
var Services = []string{"details", "ratings", "reviews", "productpage"}

// Workload is one Deployment of Bookinfo.
type Workload struct {
	App, Version string
}

// Name is the Deployment's name, e.g. reviews-v2.
func (w Workload) Name() string { return w.App + "-" + w.Version }

// Workloads are Bookinfo's Deployments.
func Workloads() []Workload {
	return []Workload{
		{"details", "v1"}, {"ratings", "v1"},
		{"reviews", "v1"}, {"reviews", "v2"}, {"reviews", "v3"},
		{"productpage", "v1"},
	}
}

// Options shape the objects.
type Options struct {
	Namespace string
	// Hub and ImageTag make images <hub>/examples-bookinfo-<app>-<version>:<tag>.
	Hub      string
	ImageTag string
	// Replicas of every Deployment; 0 means 1.
	Replicas int32
	// Selector keeps only the matching objects, like `kubectl apply -l`
	// on the sample: app=, version=, service=, account= labels.
	Selector labels.Selector
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Hub == "" {
		o.Hub = DefaultHub
	}
	if o.ImageTag == "" {
		o.ImageTag = DefaultImageTag
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	return o
}

// Image is the container image of a workload.
func (o Options) Image(w Workload) string {
	o = o.withDefaults()
	return fmt.Sprintf("%s/examples-bookinfo-%s-%s:%s", o.Hub, w.App, w.Version, o.ImageTag)
}

func managed(l map[string]string) map[string]string {
	out := map[string]string{ManagedByLabel: ManagedBy, PartOfLabel: PartOf}
	for k, v := range l {
		out[k] = v
	}
	return out
}

// Objects returns Bookinfo's Services, ServiceAccounts and Deployments, in
// that order, so the Services exist before the pods that serve them.
func Objects(o Options) ([]*unstructured.Unstructured, error) {
	o = o.withDefaults()
	var typed []runtime.Object
	for _, app := range Services {
		typed = append(typed, &corev1.Service{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: o.Namespace,
				Labels: managed(map[string]string{"app": app, "service": app})},
			Spec: corev1.ServiceSpec{
				Ports:    []corev1.ServicePort{{Name: "http", Port: Port, TargetPort: intstr.FromInt32(Port)}},
				Selector: map[string]string{"app": app},
			},
		})
	}
	for _, app := range Services {
		typed = append(typed, &corev1.ServiceAccount{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: "bookinfo-" + app, Namespace: o.Namespace,
				Labels: managed(map[string]string{"account": app})},
		})
	}
	for _, w := range Workloads() {
		typed = append(typed, deployment(o, w))
	}
	all, err := apply.FromTyped(typed...)
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(all))
	for _, u := range all {
		if o.Selector == nil || o.Selector.Matches(labels.Set(u.GetLabels())) {
			out = append(out, u)
		}
	}
	return out, nil
}

func deployment(o Options, w Workload) *appsv1.Deployment {
	podLabels := map[string]string{"app": w.App, "version": w.Version}
	runAsUser := int64(1000)
	container := corev1.Container{
		Name:            w.App,
		Image:           o.Image(w),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           []corev1.ContainerPort{{ContainerPort: Port}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &runAsUser},
	}
	var volumes []corev1.Volume
	emptyDir := func(name, path string) {
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: path})
	}
	switch w.App {
	case "reviews":
		// The reviews image runs Open Liberty, which writes logs and its
		// workarea; the root filesystem is not writable for user 1000.
		container.Env = []corev1.EnvVar{{Name: "LOG_DIR", Value: "/tmp/logs"}}
		emptyDir("tmp", "/tmp")
		emptyDir("wlp-output", "/opt/ibm/wlp/output")
	case "productpage":
		emptyDir("tmp", "/tmp")
	}
	replicas := o.Replicas
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: w.Name(), Namespace: o.Namespace,
			Labels: managed(podLabels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "bookinfo-" + w.App,
					Containers:         []corev1.Container{container},
					Volumes:            volumes,
				},
			},
		},
	}
}

// GatewayObjects returns the ingress Gateway and the VirtualService that
// send the sample's paths to productpage.
func GatewayObjects(namespace string) []*unstructured.Unstructured {
	meta := func(name string) map[string]any {
		return map[string]any{"name": name, "namespace": namespace, "labels": toAny(managed(map[string]string{"app": "productpage"}))}
	}
	gateway := ingress.Gateway(namespace, GatewayName, managed(map[string]string{"app": "productpage"}))
	match := func(kind, uri string) any { return map[string]any{"uri": map[string]any{kind: uri}} }
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "VirtualService",
		"metadata":   meta(VirtualServiceName),
		"spec": map[string]any{
			"hosts":    []any{"*"},
			"gateways": []any{GatewayName},
			"http": []any{map[string]any{
				"match": []any{
					match("exact", "/productpage"),
					match("prefix", "/static"),
					match("exact", "/login"),
					match("exact", "/logout"),
					match("prefix", "/api/v1/products"),
				},
				"route": []any{map[string]any{"destination": map[string]any{
					"host": "productpage", "port": map[string]any{"number": int64(Port)},
				}}},
			}},
		},
	}}
	return []*unstructured.Unstructured{gateway, vs}
}

// GatewayAPIObjects returns the Gateway API's form of GatewayObjects: a
// Gateway of class istio (Istio deploys its proxy and Service itself) with
// one HTTP listener on port 80 taking routes of its own namespace, and the
// HTTPRoute that sends the sample's paths to productpage.
func GatewayAPIObjects(namespace string) []*unstructured.Unstructured {
	labels := managed(map[string]string{"app": "productpage"})
	gateway := ingress.KubeGateway(namespace, GatewayName, labels)
	match := func(kind, path string) any {
		return map[string]any{"path": map[string]any{"type": kind, "value": path}}
	}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ingress.GatewayAPIVersion,
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": HTTPRouteName, "namespace": namespace, "labels": toAny(labels)},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": GatewayName}},
			"rules": []any{map[string]any{
				"matches": []any{
					match("Exact", "/productpage"),
					match("PathPrefix", "/static"),
					match("Exact", "/login"),
					match("Exact", "/logout"),
					match("PathPrefix", "/api/v1/products"),
				},
				"backendRefs": []any{map[string]any{"name": "productpage", "port": int64(Port)}},
			}},
		},
	}}
	return []*unstructured.Unstructured{gateway, route}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
