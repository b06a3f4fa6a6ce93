package oracle

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// istioClass is the GatewayClass istiod creates in a cluster, which
// pilot's in-memory discovery server does not.
const istioClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec:
  controllerName: istio.io/gateway-controller
`

// TestBookinfoGatewayAPISamples: Istio's own Bookinfo with its Gateway API
// samples, read from the istio module this module requires, one sample at
// a time over the application and its versioned Services: kubectl-mesh
// finds no error, and pilot breaks no route of them.
func TestBookinfoGatewayAPISamples(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating the istio module: %v", err)
	}
	bookinfo := filepath.Join(strings.TrimSpace(string(out)), "samples", "bookinfo")
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	app := read(filepath.Join(bookinfo, "platform", "kube", "bookinfo.yaml")) + "\n---\n" +
		read(filepath.Join(bookinfo, "platform", "kube", "bookinfo-versions.yaml"))
	samples, err := filepath.Glob(filepath.Join(bookinfo, "gateway-api", "*.yaml"))
	if err != nil || len(samples) == 0 {
		t.Fatalf("no Gateway API samples in %s: %v", bookinfo, err)
	}
	for _, sample := range samples {
		t.Run(filepath.Base(sample), func(t *testing.T) {
			manifest := istioClass + "---\n" + app + "\n---\n" + read(sample)
			findings, err := Validate(productBin, writeCase(t, manifest))
			if err != nil {
				t.Fatal(err)
			}
			routes := 0
			for _, f := range findings {
				if f.Severity == "error" {
					t.Errorf("kubectl-mesh: %s %s/%s %s: [%s] %s", f.Kind, f.Namespace, f.Name, f.Field, f.Code, f.Message)
				}
			}
			m, err := Parse([]byte(manifest))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range EvaluateRoutes(t, m) {
				routes++
				for _, b := range r.Broken {
					t.Errorf("pilot: %s %s/%s %s: %s", r.Kind, r.Namespace, r.Name, b.Field, b.Reason)
				}
			}
			if routes == 0 {
				t.Error("the sample has no HTTPRoute")
			}
		})
	}
}
