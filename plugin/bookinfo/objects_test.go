package bookinfo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubectl-mesh/kubectl-mesh/internal/golden"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
)

func TestObjectsGolden(t *testing.T) {
	objs, err := Objects(Options{Namespace: "bookinfo"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := apply.Print(&out, "yaml", append(objs, GatewayObjects("bookinfo")...)); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "bookinfo.yaml", out.Bytes())
}

func TestGatewayAPIObjectsGolden(t *testing.T) {
	var out bytes.Buffer
	if err := apply.Print(&out, "yaml", GatewayAPIObjects("bookinfo")); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "bookinfo-gateway-api.yaml", out.Bytes())
}

func names(objs []*unstructured.Unstructured) string {
	var n []string
	for _, o := range objs {
		n = append(n, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(n, " ")
}

func TestObjectsSelector(t *testing.T) {
	tests := []struct {
		selector string
		want     string
	}{
		{"app=reviews,version=v3", "Deployment/reviews-v3"},
		{"service=reviews", "Service/reviews"},
		{"account=reviews", "ServiceAccount/bookinfo-reviews"},
		{"app=ratings", "Service/ratings Deployment/ratings-v1"},
		{"version,version!=v1", "Deployment/reviews-v2 Deployment/reviews-v3"},
	}
	for _, tt := range tests {
		sel, err := labels.Parse(tt.selector)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := Objects(Options{Selector: sel})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(objs); got != tt.want {
			t.Errorf("-l %s: got %s, want %s", tt.selector, got, tt.want)
		}
	}
}

func TestObjectsShape(t *testing.T) {
	objs, err := Objects(Options{Namespace: "shop", Hub: "example.invalid/istio", ImageTag: "1.16.2", Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 14 {
		t.Fatalf("want 4 Services, 4 ServiceAccounts and 6 Deployments, got %s", names(objs))
	}
	for _, o := range objs {
		if o.GetNamespace() != "shop" || o.GetLabels()[ManagedByLabel] != ManagedBy || o.GetLabels()[PartOfLabel] != PartOf {
			t.Errorf("%s/%s: namespace %q labels %v", o.GetKind(), o.GetName(), o.GetNamespace(), o.GetLabels())
		}
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		image := containers[0].(map[string]any)["image"]
		app, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "labels", "app")
		version, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "labels", "version")
		if want := "example.invalid/istio/examples-bookinfo-" + app + "-" + version + ":1.16.2"; image != want {
			t.Errorf("%s: image %v, want %s", o.GetName(), image, want)
		}
		if r, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); r != 2 {
			t.Errorf("%s: replicas %d", o.GetName(), r)
		}
	}
}

// Every object kubectl mesh bookinfo applies passes the policy core
// without a finding, warnings included.
func TestObjectsPassValidation(t *testing.T) {
	objs, err := Objects(Options{Namespace: "bookinfo"})
	if err != nil {
		t.Fatal(err)
	}
	for name, exposed := range map[string][]*unstructured.Unstructured{
		"istio":   GatewayObjects("bookinfo"),
		"gateway": GatewayAPIObjects("bookinfo"),
	} {
		findings, err := (&apply.Preflight{}).Check(context.Background(), append(objs, exposed...))
		if err != nil {
			t.Fatalf("--api %s: %v", name, err)
		}
		for _, f := range findings {
			t.Errorf("--api %s: unexpected finding: %s", name, f.Text())
		}
	}
}
