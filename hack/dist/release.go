package main

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
)

const (
	binaryName     = "kubectl-mesh"
	checksumsFile  = "checksums.txt"
	mainPackage    = "./cmd/kubectl-mesh"
	completionName = "kubectl_complete-mesh"
)

// The helpers kubectl runs for `kubectl mesh <TAB>` (kubectl 1.26 and
// later look up kubectl_complete-<plugin> on PATH and print what it prints).
var (
	//go:embed kubectl_complete-mesh
	completionUnix []byte
	//go:embed kubectl_complete-mesh.cmd
	completionWindows []byte
)

// target is one os/arch the release ships for.
type target struct{ OS, Arch string }

// releaseTargets are the platforms `make dist` builds.
var releaseTargets = []target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

func (t target) String() string { return t.OS + "/" + t.Arch }

func (t target) windows() bool { return t.OS == "windows" }

// binary is the plugin's file name on the target.
func (t target) binary() string {
	if t.windows() {
		return binaryName + ".exe"
	}
	return binaryName
}

// completionHelper is the completion helper's file name and content.
func (t target) completionHelper() (string, []byte) {
	if t.windows() {
		return completionName + ".cmd", completionWindows
	}
	return completionName, completionUnix
}

// archiveName is the release asset: zip for windows, where tar is not at
// home; tar.gz elsewhere, keeping the executable bits.
func (t target) archiveName() string {
	ext := ".tar.gz"
	if t.windows() {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s%s", binaryName, t.OS, t.Arch, ext)
}

// installedFiles are the archive entries krew copies into the plugin's
// folder: the binary, the completion helper and the LICENSE.
func (t target) installedFiles() []string {
	helper, _ := t.completionHelper()
	return []string{t.binary(), helper, "LICENSE"}
}

func targetNames(ts []target) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return names
}

func parseTargets(s string) ([]target, error) {
	var ts []target
	seen := map[target]bool{}
	for _, part := range strings.Split(s, ",") {
		goos, arch, ok := strings.Cut(strings.TrimSpace(part), "/")
		if !ok || goos == "" || arch == "" {
			return nil, fmt.Errorf("-targets: %q is not os/arch", part)
		}
		t := target{goos, arch}
		if seen[t] {
			return nil, fmt.Errorf("-targets: %s given twice", t)
		}
		seen[t] = true
		ts = append(ts, t)
	}
	return ts, nil
}

// checkVersion enforces what krew accepts: semver with a leading v.
func checkVersion(v string) error {
	if !strings.HasPrefix(v, "v") {
		return fmt.Errorf("-version %q must be semver with a leading v (v1.2.3)", v)
	}
	if _, err := version.ParseSemantic(v); err != nil {
		return fmt.Errorf("-version %q is not semver: %w", v, err)
	}
	return nil
}

// options of one release run.
type options struct {
	root, out        string
	version, ldflags string
	targets          []target
	mtime            time.Time
	manifestTemplate string
	manifestOut      string
	releaseURL       string
}

// archive is a packaged target.
type archive struct {
	target target
	path   string
	sha256 string
}

// buildRelease builds and packages every target in turn (one go build at a
// time: each already uses every core), then writes the checksums file.
func buildRelease(ctx context.Context, o options, log io.Writer) ([]archive, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "kubectl-mesh-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	var archives []archive
	for _, t := range o.targets {
		start := time.Now()
		bin := filepath.Join(work, t.OS+"_"+t.Arch, t.binary())
		if err := buildBinary(ctx, o.root, t, o.ldflags, bin); err != nil {
			return nil, err
		}
		a, err := packageTarget(o.root, o.out, t, bin, o.mtime)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "dist: %s  %s  (%.0fs)\n", a.sha256, a.path, time.Since(start).Seconds())
		archives = append(archives, a)
	}
	if err := writeChecksums(filepath.Join(o.out, checksumsFile), archives); err != nil {
		return nil, err
	}
	return archives, nil
}

// buildBinary cross-compiles the plugin: static (no cgo), paths trimmed.
func buildBinary(ctx context.Context, root string, t target, ldflags, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", abs, mainPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s: %w\n%s", t, err, out)
	}
	return nil
}

// packageTarget writes the target's archive into dir.
func packageTarget(root, dir string, t target, binary string, mtime time.Time) (archive, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return archive{}, fmt.Errorf("reading the %s binary: %w", t, err)
	}
	entries := []entry{{name: t.binary(), mode: 0o755, data: bin}}
	helper, script := t.completionHelper()
	entries = append(entries, entry{name: helper, mode: 0o755, data: script})
	for _, doc := range []string{"LICENSE", "README.md"} {
		data, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			return archive{}, fmt.Errorf("reading %s: %w", doc, err)
		}
		entries = append(entries, entry{name: doc, mode: 0o644, data: data})
	}

	path := filepath.Join(dir, t.archiveName())
	f, err := os.Create(path)
	if err != nil {
		return archive{}, err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if t.windows() {
		err = writeZip(w, entries, mtime)
	} else {
		err = writeTarGz(w, entries, mtime)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return archive{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return archive{target: t, path: path, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// existingArchives hashes the archives a previous run left in dir.
func existingArchives(dir string, targets []target) ([]archive, error) {
	var archives []archive
	for _, t := range targets {
		path := filepath.Join(dir, t.archiveName())
		sum, err := fileSHA256(path)
		if err != nil {
			return nil, fmt.Errorf("%w (run make dist first)", err)
		}
		archives = append(archives, archive{target: t, path: path, sha256: sum})
	}
	return archives, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeChecksums writes sha256sum's format ("<hex>  <name>"), sorted by
// name, so `sha256sum -c checksums.txt` checks a download.
func writeChecksums(path string, archives []archive) error {
	lines := make([]string, len(archives))
	for i, a := range archives {
		lines[i] = a.sha256 + "  " + filepath.Base(a.path) + "\n"
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	return os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
}
