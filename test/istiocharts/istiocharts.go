// Package istiocharts finds Istio's Helm charts for tests: the
// manifests/charts folder of the Go module istio.io/istio in the module
// cache, as hack/istio-charts.sh prints it. Nothing of Istio's is kept in
// this repository.
package istiocharts

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// Dir returns the charts folder; root is the repository's root.
func Dir(t testing.TB, root string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "hack", "istio-charts.sh")).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("hack/istio-charts.sh: %s", msg)
	}
	return strings.TrimSpace(string(out))
}

// Repository serves the charts kubectl mesh install takes (base,
// istio-discovery and gateway) as a Helm chart repository on loopback, at
// version (the Istio release the plugin pins): Istio's own repository as
// a test can reach it. The server stops with the test.
func Repository(t testing.TB, root, version string) *httptest.Server {
	t.Helper()
	charts := Dir(t, root)
	dir := t.TempDir()
	for _, c := range []string{"base", "istio-control/istio-discovery", "gateway"} {
		ch, err := loader.Load(filepath.Join(charts, filepath.FromSlash(c)))
		if err != nil {
			t.Fatal(err)
		}
		ch.Metadata.Version = version
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	index, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := index.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv
}

// FreshHomeEnv is the environment of a machine where Helm was never set
// up: HOME is an empty folder and no Helm or XDG location is set.
func FreshHomeEnv(t testing.TB, env []string) []string {
	t.Helper()
	out := []string{"HOME=" + t.TempDir()}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || strings.HasPrefix(name, "HELM_") || strings.HasPrefix(name, "XDG_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// SetFreshHome makes this process's environment FreshHomeEnv's.
func SetFreshHome(t testing.TB) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "HELM_") || strings.HasPrefix(name, "XDG_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}
