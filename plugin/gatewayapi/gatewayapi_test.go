package gatewayapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
)

// manifest is shaped like a release's standard-install.yaml, cut down.
const manifest = `# Gateway API standard channel
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gatewayclasses.gateway.networking.k8s.io}
spec: {group: gateway.networking.k8s.io}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gateways.gateway.networking.k8s.io}
spec: {group: gateway.networking.k8s.io}
---
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: safe-upgrades.gateway.networking.k8s.io}
`

func TestRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/standard-install.yaml":
			_, _ = w.Write([]byte(manifest))
		case "/page.html":
			_, _ = w.Write([]byte("<html><body>release notes</body></html>"))
		case "/other.yaml":
			_, _ = w.Write([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "standard-install.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		source  string
		want    string
		wantErr string
	}{
		{srv.URL + "/standard-install.yaml", "CustomResourceDefinition/gatewayclasses.gateway.networking.k8s.io CustomResourceDefinition/gateways.gateway.networking.k8s.io ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io", ""},
		{file, "CustomResourceDefinition/gatewayclasses.gateway.networking.k8s.io CustomResourceDefinition/gateways.gateway.networking.k8s.io ValidatingAdmissionPolicy/safe-upgrades.gateway.networking.k8s.io", ""},
		{srv.URL + "/v0.0.0/standard-install.yaml", "", "/v0.0.0/standard-install.yaml: 404 Not Found"},
		{srv.URL + "/page.html", "", "/page.html: document 1: "},
		{srv.URL + "/other.yaml", "", "/other.yaml is no Gateway API install manifest: it has no CustomResourceDefinition gateways.gateway.networking.k8s.io"},
		{filepath.Join(t.TempDir(), "missing.yaml"), "", "reading the Gateway API manifest: open "},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			objs, err := Read(context.Background(), srv.Client(), tt.source)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(Names(objs), " "); got != tt.want {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// fakeCluster answers server-side applies by storing the object, with
// CRDs established at once as an API server soon reports them.
func fakeCluster(t *testing.T, existing ...runtime.Object) *dynamicfake.FakeDynamicClient {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), existing...)
	dyn.PrependReactor("patch", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		patch, ok := action.(k8stesting.PatchActionImpl)
		if !ok || patch.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(patch.GetPatch()); err != nil {
			return true, nil, err
		}
		if u.GetKind() == "CustomResourceDefinition" {
			u.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Established", "status": "True"}}}
		}
		return true, u, dyn.Tracker().Create(patch.GetResource(), u, "")
	})
	return dyn
}

func TestInstall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/standard-install.yaml" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(manifest))
	}))
	defer srv.Close()
	present := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": GatewaysCRD},
	}}
	tests := []struct {
		name     string
		existing []runtime.Object
		source   string
		out      string
		applied  int
		wantErr  bool
	}{
		{"installs", nil, srv.URL + "/standard-install.yaml", "Waiting for CustomResourceDefinition/gateways.gateway.networking.k8s.io\n✔ Gateway API CRDs installed\n", 3, false},
		{"skips when present", []runtime.Object{present}, srv.URL, "✔ Gateway API CRDs already installed (gateways.gateway.networking.k8s.io exists)\n", 0, false},
		{"fails on a missing manifest", nil, srv.URL + "/v9/standard-install.yaml", "✘ Gateway API CRDs encountered an error\n  fetching " + srv.URL + "/v9/standard-install.yaml: 404 Not Found\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dyn := fakeCluster(t, tt.existing...)
			var out bytes.Buffer
			in := &Installer{Applier: &apply.Applier{Client: dyn, DryRun: apply.DryRunNone}, HTTP: srv.Client(), Progress: progress.New(&out), Timeout: 5 * time.Second, Poll: time.Millisecond}
			objs, err := in.Install(context.Background(), tt.source)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrFailed)) {
				t.Fatalf("error %v", err)
			}
			if !strings.Contains(out.String(), tt.out) || len(objs) != tt.applied {
				t.Errorf("printed %q, applied %d; want %q and %d", out.String(), len(objs), tt.out, tt.applied)
			}
			writes := 0
			for _, a := range dyn.Actions() {
				if a.GetVerb() == "patch" {
					writes++
				}
			}
			if writes != tt.applied {
				t.Errorf("%d applies, want %d", writes, tt.applied)
			}
		})
	}
}
