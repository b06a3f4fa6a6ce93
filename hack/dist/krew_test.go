package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestKrewInstall installs the plugin the way users do, with real krew
// (built from its Go module by hack/build-tools.sh --krew) from a release
// manifest and archive, then runs it through the real kubectl's plugin
// discovery and plugin completion. It needs the kubectl that `make test`
// builds (MESH_E2E_ASSETS, the folder hack/build-tools.sh prints).
func TestKrewInstall(t *testing.T) {
	assets := os.Getenv("MESH_E2E_ASSETS")
	if assets == "" {
		t.Skip("MESH_E2E_ASSETS is not set (make test sets it after building kubectl)")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the test drives unix shells")
	}
	kubectl := filepath.Join(assets, "kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	krewDir := krewTools(t)
	work := t.TempDir()
	host := target{runtime.GOOS, runtime.GOARCH}
	const version = "v0.0.1-krewtest"

	// The release steps of make dist, for this machine's platform only.
	start := time.Now()
	bin := filepath.Join(work, "build", host.binary())
	ldflags := "-s -w -X github.com/kubectl-mesh/kubectl-mesh/plugin.Version=" + version +
		" -X github.com/kubectl-mesh/kubectl-mesh/plugin.Commit=krewtest"
	if err := buildBinary(ctx, repoRoot, host, ldflags, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %.1fs", host, time.Since(start).Seconds())
	a, err := packageTarget(repoRoot, work, host, bin, testDate)
	if err != nil {
		t.Fatal(err)
	}
	manifestPath := filepath.Join(work, "mesh.yaml")
	manifest, err := renderManifest(filepath.Join(repoRoot, "krew", "mesh.yaml.tmpl"), version, defaultReleaseURL, []archive{a})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifestPath, manifest, 0o644); err != nil {
		t.Fatal(err)
	}

	// krew's own manifest checks, on this manifest and on one for every
	// release platform (archives of fake binaries).
	full, _ := releaseManifest(t, version, defaultReleaseURL)
	fullPath := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(fullPath, full, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{manifestPath, fullPath} {
		runTool(ctx, t, nil, filepath.Join(krewDir, "validate-krew-manifest"), "-manifest", m, "-skip-install")
	}

	krewRoot := filepath.Join(work, "krew")
	env := append(os.Environ(),
		"KREW_ROOT="+krewRoot,
		"KREW_NO_UPGRADE_CHECK=1",
		"HOME="+work,
		"PATH="+filepath.Join(krewRoot, "bin")+string(os.PathListSeparator)+"/usr/bin:/bin",
	)
	_, said := runTool(ctx, t, env, filepath.Join(krewDir, "krew"), "install", "--manifest="+manifestPath, "--archive="+a.path)
	if !strings.Contains(said, "Installed plugin: mesh") {
		t.Errorf("krew install said:\n%s", said)
	}
	store := filepath.Join(krewRoot, "store", "mesh", version)
	for _, f := range host.installedFiles() {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Errorf("krew did not install %s: %v", f, err)
		}
	}

	// The plugin through kubectl's plugin discovery.
	out, _ := runTool(ctx, t, env, kubectl, "mesh", "version")
	if !strings.HasPrefix(out, "kubectl-mesh "+version+" (commit krewtest") {
		t.Errorf("kubectl mesh version printed %q", out)
	}

	// Completion through kubectl: install the helper as the manifest's
	// caveats tell users to, then ask kubectl as the shell would.
	var m krewManifest
	if err := yaml.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	var copyLine string
	for _, line := range strings.Split(m.Spec.Caveats, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "cp ") {
			copyLine = strings.TrimSpace(line)
		}
	}
	if copyLine == "" {
		t.Fatalf("the caveats give no cp line:\n%s", m.Spec.Caveats)
	}
	runTool(ctx, t, env, "/bin/sh", "-c", copyLine)

	out, _ = runTool(ctx, t, env, kubectl, "__complete", "mesh", "ver")
	if !hasCompletion(out, "version") {
		t.Errorf("kubectl __complete mesh ver offered:\n%s", out)
	}
	out, _ = runTool(ctx, t, env, kubectl, "__complete", "mesh", "completion", "")
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if !hasCompletion(out, shell) {
			t.Errorf("kubectl __complete mesh completion '' lacks %s:\n%s", shell, out)
		}
	}
}

// hasCompletion reports whether a line of cobra's completion output offers
// choice (lines are "choice" or "choice<TAB>description").
func hasCompletion(out, choice string) bool {
	for _, line := range strings.Split(out, "\n") {
		if name, _, _ := strings.Cut(line, "\t"); name == choice {
			return true
		}
	}
	return false
}

// krewTools builds (once, cached under .cache/tools) krew and its manifest
// validator and returns their folder.
func krewTools(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "hack", "build-tools.sh"), "--krew")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/build-tools.sh --krew: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// runTool runs a command (env nil: this process's), failing the test with
// its output when it fails, and returns what it printed: stdout, then
// stderr.
func runTool(ctx context.Context, t *testing.T, env []string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, &outBuf, &errBuf)
	}
	return outBuf.String(), errBuf.String()
}
