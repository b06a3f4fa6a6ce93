package sample

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubectl-mesh/kubectl-mesh/internal/golden"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
)

func TestObjectsGolden(t *testing.T) {
	objs, err := Objects(Options{Namespace: "default"}, Names()...)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := apply.Print(&out, "yaml", objs); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "samples.yaml", out.Bytes())
}

func names(objs []*unstructured.Unstructured) string {
	var n []string
	for _, o := range objs {
		n = append(n, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(n, " ")
}

func TestObjects(t *testing.T) {
	tests := []struct {
		samples    []string
		want       string
		port       int64
		targetPort int64
		image      string
		selector   string
		// podLabels are each Deployment's pod labels, which it selects.
		podLabels map[string]string
	}{
		{[]string{"httpbin"}, "ServiceAccount/httpbin Service/httpbin Deployment/httpbin", 8000, 8080, HTTPBinImage, "app=httpbin",
			map[string]string{"httpbin": "app=httpbin,version=v1"}},
		{[]string{"fortio"}, "Service/fortio Deployment/fortio-deploy", 8080, 8080, "fortio/fortio:1.75.3", "app=fortio",
			map[string]string{"fortio-deploy": "app=fortio"}},
		{[]string{"curl"}, "ServiceAccount/curl Service/curl Deployment/curl", 80, 80, CurlImage, "app=curl",
			map[string]string{"curl": "app=curl"}},
		// The tutorial's step 8: one Service over both versions, told apart by app.
		{[]string{"canary"}, "Service/canary Deployment/appv1 Deployment/appv2 Gateway/canary-gateway", 80, EchoPort, EchoImage, "apply=canary",
			map[string]string{"appv1": "app=v1,apply=canary", "appv2": "app=v2,apply=canary"}},
		// Steps 10 and 11: the Services are named as there.
		{[]string{"tomcat"}, "Service/tomcat-svc Deployment/tomcat", 8080, 8080, TomcatImage, "app=tomcat",
			map[string]string{"tomcat": "app=tomcat"}},
		{[]string{"nginx"}, "ConfigMap/nginx-conf Service/nginx-svc Deployment/nginx", 80, 80, NginxImage, "app=nginx",
			map[string]string{"nginx": "app=nginx"}},
	}
	for _, tt := range tests {
		t.Run(tt.samples[0], func(t *testing.T) {
			objs, err := Objects(Options{Namespace: "shop"}, tt.samples...)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(objs); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			s, _ := Lookup(tt.samples[0])
			var deployments []string
			for _, o := range objs {
				l := o.GetLabels()
				if o.GetNamespace() != "shop" || l[apply.ManagedByLabel] != apply.ManagedBy || l[Label] != tt.samples[0] {
					t.Errorf("%s/%s: namespace %q labels %v", o.GetKind(), o.GetName(), o.GetNamespace(), l)
				}
				switch o.GetKind() {
				case "Service":
					ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
					p := ports[0].(map[string]any)
					if p["port"] != tt.port || p["targetPort"] != tt.targetPort || p["name"] != "http" {
						t.Errorf("service port %v", p)
					}
					if sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector"); labelsString(sel) != tt.selector {
						t.Errorf("service selector %v, want %s", sel, tt.selector)
					}
					if o.GetName() != s.Service {
						t.Errorf("service %s, but the sample says %s", o.GetName(), s.Service)
					}
				case "Deployment":
					deployments = append(deployments, o.GetName())
					containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					if image := containers[0].(map[string]any)["image"]; image != tt.image {
						t.Errorf("image %v, want %s", image, tt.image)
					}
					pl, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
					sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
					want := tt.podLabels[o.GetName()]
					if got := labelsString(pl); got != want || labelsString(sel) != want {
						t.Errorf("%s: pod labels %s, selector %v, want %s", o.GetName(), got, sel, want)
					}
				}
			}
			if got := strings.Join(s.Deployments(), " "); got != strings.Join(deployments, " ") {
				t.Errorf("Deployments() = %s, objects %v", got, deployments)
			}
		})
	}
}

// labelsString writes labels as k=v,... in key order.
func labelsString(m map[string]string) string { return labels.Set(m).String() }

func TestFortioAndCurlSpecifics(t *testing.T) {
	objs, err := Objects(Options{}, "curl", "fortio", "curl")
	if err != nil {
		t.Fatal(err)
	}
	// Samples come in their own order, each once.
	if got, want := names(objs), "Service/fortio Deployment/fortio-deploy ServiceAccount/curl Service/curl Deployment/curl"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	fortio, curl := objs[1], objs[4]
	if a := fortio.GetNamespace(); a != "default" {
		t.Errorf("namespace %q, want default", a)
	}
	ann, _, _ := unstructured.NestedString(fortio.Object, "spec", "template", "metadata", "annotations", "proxy.istio.io/config")
	if ann != FortioProxyConfig {
		t.Errorf("fortio proxy config %q", ann)
	}
	fc, _, _ := unstructured.NestedSlice(fortio.Object, "spec", "template", "spec", "containers")
	if args := fc[0].(map[string]any)["args"]; len(args.([]any)) != 1 || args.([]any)[0] != "server" {
		t.Errorf("fortio args %v", args)
	}
	cc, _, _ := unstructured.NestedSlice(curl.Object, "spec", "template", "spec", "containers")
	if cmd := cc[0].(map[string]any)["command"]; len(cmd.([]any)) != 2 || cmd.([]any)[1] != "infinity" {
		t.Errorf("curl command %v", cmd)
	}
	if sa, _, _ := unstructured.NestedString(curl.Object, "spec", "template", "spec", "serviceAccountName"); sa != "curl" {
		t.Errorf("curl service account %q", sa)
	}
}

func TestResolve(t *testing.T) {
	if got, err := Resolve([]string{"curl", "httpbin"}); err != nil || strings.Join(got, " ") != "httpbin curl" {
		t.Errorf("Resolve: %v %v", got, err)
	}
	if got, err := Resolve([]string{"nginx", "tomcat", "canary"}); err != nil || strings.Join(got, " ") != "canary tomcat nginx" {
		t.Errorf("Resolve: %v %v", got, err)
	}
	_, err := Resolve([]string{"nginx-svc", "httpbin", "bookinfo"})
	if err == nil || err.Error() != "unknown sample bookinfo, nginx-svc: the samples are httpbin, fortio, curl, canary, tomcat, nginx" {
		t.Errorf("unknown names: %v", err)
	}
}

// Every object kubectl mesh sample applies passes the policy core without
// a finding, warnings included.
func TestObjectsPassValidation(t *testing.T) {
	objs, err := Objects(Options{Namespace: "default"}, Names()...)
	if err != nil {
		t.Fatal(err)
	}
	findings, err := (&apply.Preflight{}).Check(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("unexpected finding: %s", f.Text())
	}
}

// What the tutorial's own samples need beyond a Service and Deployments.
func TestTutorialSpecifics(t *testing.T) {
	objs, err := Objects(Options{Namespace: "web"}, "canary", "tomcat", "nginx")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byName[o.GetKind()+"/"+o.GetName()] = o
	}
	tests := []struct {
		object string
		path   []string
		want   any
	}{
		// Each version says which it is, for canary verify --match.
		{"Deployment/appv1", []string{"spec", "template", "spec", "containers"}, []any{map[string]any{
			"name": "app", "image": EchoImage, "imagePullPolicy": "IfNotPresent", "args": []any{"-text=canary v1"},
			"ports": []any{map[string]any{"containerPort": int64(EchoPort), "name": "http"}}}}},
		{"Gateway/canary-gateway", []string{"spec"}, map[string]any{
			"selector": map[string]any{"istio": "ingressgateway"},
			"servers":  []any{map[string]any{"port": map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"}, "hosts": []any{"*"}}}}},
		{"Gateway/canary-gateway", []string{"metadata", "namespace"}, "web"},
		{"ConfigMap/nginx-conf", []string{"data"}, map[string]any{"default.conf": NginxConfig}},
		{"Deployment/nginx", []string{"spec", "template", "spec", "volumes"}, []any{map[string]any{
			"name": "config", "configMap": map[string]any{"name": NginxConfigMap}}}},
		{"Deployment/nginx", []string{"spec", "template", "spec", "containers"}, []any{map[string]any{
			"name": "nginx", "image": NginxImage, "imagePullPolicy": "IfNotPresent",
			"ports":        []any{map[string]any{"containerPort": int64(80), "name": "http"}},
			"volumeMounts": []any{map[string]any{"name": "config", "mountPath": "/etc/nginx/conf.d", "readOnly": true}}}}},
		{"Deployment/tomcat", []string{"spec", "template", "spec", "containers"}, []any{map[string]any{
			"name": "tomcat", "image": TomcatImage, "imagePullPolicy": "IfNotPresent",
			"command": []any{"sh", "-c", "cp -r webapps.dist/. webapps/ && exec catalina.sh run"},
			"ports":   []any{map[string]any{"containerPort": int64(8080), "name": "http"}}}}},
	}
	for _, tt := range tests {
		o := byName[tt.object]
		if o == nil {
			t.Errorf("no %s among %s", tt.object, names(objs))
			continue
		}
		got, _, _ := unstructured.NestedFieldNoCopy(o.Object, tt.path...)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s:\n%v\nwant\n%v", tt.object, strings.Join(tt.path, "."), got, tt.want)
		}
	}
	// nginx forwards to the Service the tomcat sample makes, over HTTP/1.1.
	for _, want := range []string{"proxy_pass http://tomcat-svc:8080;", "proxy_http_version 1.1;"} {
		if !strings.Contains(NginxConfig, want) {
			t.Errorf("nginx config lacks %q", want)
		}
	}
	if tomcat, _ := Lookup("tomcat"); !strings.Contains(NginxConfig, "http://"+tomcat.Service+":8080") {
		t.Errorf("nginx does not forward to %s", tomcat.Service)
	}
	for _, image := range []string{EchoImage, TomcatImage, NginxImage} {
		if first, _, _ := strings.Cut(image, "/"); strings.ContainsAny(first, ".:") && strings.Contains(image, "/") {
			t.Errorf("image %s names a registry host", image)
		}
	}
}
