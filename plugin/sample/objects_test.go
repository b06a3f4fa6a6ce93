package sample

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
		podLabels  string
	}{
		{[]string{"httpbin"}, "ServiceAccount/httpbin Service/httpbin Deployment/httpbin", 8000, 8080, HTTPBinImage, "app=httpbin,version=v1"},
		{[]string{"fortio"}, "Service/fortio Deployment/fortio-deploy", 8080, 8080, "fortio/fortio:1.75.3", "app=fortio"},
		{[]string{"curl"}, "ServiceAccount/curl Service/curl Deployment/curl", 80, 80, CurlImage, "app=curl"},
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
				case "Deployment":
					containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
					if image := containers[0].(map[string]any)["image"]; image != tt.image {
						t.Errorf("image %v, want %s", image, tt.image)
					}
					pl, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
					sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
					if got := labelsString(pl); got != tt.podLabels || labelsString(sel) != tt.podLabels {
						t.Errorf("pod labels %s, selector %v, want %s", got, sel, tt.podLabels)
					}
				}
			}
		})
	}
}

func labelsString(m map[string]string) string {
	var parts []string
	for _, k := range []string{"app", "version"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

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
	_, err := Resolve([]string{"nginx", "httpbin", "bookinfo"})
	if err == nil || err.Error() != "unknown sample bookinfo, nginx: the samples are httpbin, fortio, curl" {
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
