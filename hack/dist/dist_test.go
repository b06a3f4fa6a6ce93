package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const repoRoot = "../.."

var testDate = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeBinary stands in for a cross-compiled plugin: the tests never build
// the six targets (make dist does).
func fakeBinary(t *testing.T, tg target) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), tg.binary())
	if err := os.WriteFile(path, []byte("binary for "+tg.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// archiveEntry is one file read back from an archive.
type archiveEntry struct {
	name    string
	mode    fs.FileMode
	modTime time.Time
	data    string
}

func readArchive(t *testing.T, path string) []archiveEntry {
	t.Helper()
	var out []archiveEntry
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			out = append(out, archiveEntry{f.Name, f.Mode().Perm(), f.Modified.UTC(), string(data)})
		}
		return out
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: owner %d/%d %q/%q, want root with no names", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, archiveEntry{hdr.Name, fs.FileMode(hdr.Mode).Perm(), hdr.ModTime.UTC(), string(data)})
	}
	return out
}

func TestArchiveContents(t *testing.T) {
	license, _ := os.ReadFile(filepath.Join(repoRoot, "LICENSE"))
	readme, _ := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	for _, tg := range []target{{"linux", "arm64"}, {"darwin", "amd64"}, {"windows", "amd64"}} {
		t.Run(tg.String(), func(t *testing.T) {
			a, err := packageTarget(repoRoot, t.TempDir(), tg, fakeBinary(t, tg), testDate)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := filepath.Base(a.path), "kubectl-mesh_"+tg.OS+"_"+tg.Arch+map[bool]string{true: ".zip", false: ".tar.gz"}[tg.windows()]; got != want {
				t.Errorf("archive %s, want %s", got, want)
			}
			helper, script := tg.completionHelper()
			want := []archiveEntry{
				{"LICENSE", 0o644, testDate, string(license)},
				{"README.md", 0o644, testDate, string(readme)},
				{tg.binary(), 0o755, testDate, "binary for " + tg.String()},
				{helper, 0o755, testDate, string(script)},
			}
			got := readArchive(t, a.path)
			if len(got) != len(want) {
				t.Fatalf("entries %v, want %d", names(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("entry %d: %s %v %v (%d bytes), want %s %v %v (%d bytes)", i,
						got[i].name, got[i].mode, got[i].modTime, len(got[i].data),
						want[i].name, want[i].mode, want[i].modTime, len(want[i].data))
				}
			}
			if sum, _ := fileSHA256(a.path); sum != a.sha256 {
				t.Errorf("reported sha256 %s, file's %s", a.sha256, sum)
			}
		})
	}
}

func names(es []archiveEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

// The same inputs give the same bytes whenever and wherever they are
// packaged: checksums can be reproduced from the sources.
func TestArchivesReproducible(t *testing.T) {
	for _, tg := range []target{{"linux", "amd64"}, {"windows", "arm64"}} {
		bin := fakeBinary(t, tg)
		first, err := packageTarget(repoRoot, t.TempDir(), tg, bin, testDate)
		if err != nil {
			t.Fatal(err)
		}
		// A later run, with the binary touched since.
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(bin, later, later); err != nil {
			t.Fatal(err)
		}
		second, err := packageTarget(repoRoot, t.TempDir(), tg, bin, testDate)
		if err != nil {
			t.Fatal(err)
		}
		if first.sha256 != second.sha256 {
			t.Errorf("%s: sha256 %s then %s", tg, first.sha256, second.sha256)
		}
		other, err := packageTarget(repoRoot, t.TempDir(), tg, bin, testDate.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if other.sha256 == first.sha256 {
			t.Errorf("%s: the entries' time does not reach the archive", tg)
		}
	}
}

func TestChecksumsFile(t *testing.T) {
	dir := t.TempDir()
	archives := []archive{
		{path: filepath.Join(dir, "kubectl-mesh_windows_amd64.zip"), sha256: strings.Repeat("b", 64)},
		{path: filepath.Join(dir, "kubectl-mesh_darwin_arm64.tar.gz"), sha256: strings.Repeat("a", 64)},
	}
	path := filepath.Join(dir, checksumsFile)
	if err := writeChecksums(path, archives); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Repeat("a", 64) + "  kubectl-mesh_darwin_arm64.tar.gz\n" +
		strings.Repeat("b", 64) + "  kubectl-mesh_windows_amd64.zip\n"
	if string(got) != want {
		t.Errorf("checksums:\n%s\nwant:\n%s", got, want)
	}
}

// The helper kubectl runs for completion passes every word through,
// including the empty last one that asks for all choices.
func TestCompletionHelperPassesArguments(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the unix helper")
	}
	dir := t.TempDir()
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n"
	if err := os.WriteFile(filepath.Join(dir, "kubectl-mesh"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./kubectl_complete-mesh", "canary", "set", "my svc", "")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+"/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if want := "[__complete][canary][set][my svc][]"; string(out) != want {
		t.Errorf("kubectl-mesh got %s, want %s", out, want)
	}
	if cmdScript := string(completionWindows); !strings.Contains(cmdScript, "kubectl-mesh.exe __complete %*\r\n") {
		t.Errorf("the windows helper does not pass its arguments to kubectl-mesh.exe __complete:\n%s", cmdScript)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v0.1.0": true, "v1.2.3-rc.1": true, "v0.0.0-gc6a78d9-dirty": true, "v0.3.0-2-gabc1234": true,
		"0.1.0": false, "v1.2": false, "c6a78d9": false, "": false, "v1.2.3.4": false,
	} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestSourceDate(t *testing.T) {
	for _, tc := range []struct {
		epoch string
		want  time.Time
		err   bool
	}{
		{"", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"1741064767", time.Unix(1741064767, 0).UTC(), false},
		{"0", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
	} {
		got, err := sourceDate(tc.epoch)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("sourceDate(%q) = %v, %v; want %v (error %v)", tc.epoch, got, err, tc.want, tc.err)
		}
	}
}

func TestParseTargets(t *testing.T) {
	got, err := parseTargets("linux/amd64, windows/arm64")
	if err != nil || !slices.Equal(got, []target{{"linux", "amd64"}, {"windows", "arm64"}}) {
		t.Errorf("parseTargets = %v, %v", got, err)
	}
	for _, bad := range []string{"linux", "linux/amd64,linux/amd64", "/arm64", ""} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("parseTargets(%q) accepted", bad)
		}
	}
}

// krewManifest is the part of krew's Plugin type (v1alpha2) the rules
// below look at.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels      map[string]string `json:"matchLabels"`
				MatchExpressions []any             `json:"matchExpressions"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// releaseManifest renders the manifest for every release target from
// archives of fake binaries.
func releaseManifest(t *testing.T, version, releaseURL string) ([]byte, map[string]archive) {
	t.Helper()
	dir := t.TempDir()
	byName := map[string]archive{}
	var archives []archive
	for _, tg := range releaseTargets {
		a, err := packageTarget(repoRoot, dir, tg, fakeBinary(t, tg), testDate)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, a)
		byName[filepath.Base(a.path)] = a
	}
	out, err := renderManifest(filepath.Join(repoRoot, "krew", "mesh.yaml.tmpl"), version, releaseURL, archives)
	if err != nil {
		t.Fatal(err)
	}
	return out, byName
}

// The generated manifest follows krew's rules (those krew enforces on
// install and those the krew-index review asks for).
func TestManifestFollowsKrewRules(t *testing.T) {
	const version = "v1.4.0"
	raw, archives := releaseManifest(t, version, defaultReleaseURL+"/")
	var m krewManifest
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatalf("manifest is not a krew Plugin: %v\n%s", err, raw)
	}
	fileName := strings.TrimSuffix(filepath.Base("krew/mesh.yaml"), ".yaml") // the -krew-manifest default
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}
	check(m.APIVersion == "krew.googlecontainertools.github.com/v1alpha2", "apiVersion %q", m.APIVersion)
	check(m.Kind == "Plugin", "kind %q", m.Kind)
	check(m.Metadata.Name == fileName && m.Metadata.Name == "mesh", "metadata.name %q, file krew/%s.yaml", m.Metadata.Name, fileName)
	check(m.Spec.Version == version && checkVersion(m.Spec.Version) == nil, "version %q", m.Spec.Version)
	check(strings.HasPrefix(m.Spec.Homepage, "https://"), "homepage %q is not an https URL", m.Spec.Homepage)

	short := m.Spec.ShortDescription
	check(short != "" && len(short) <= 50 && !strings.ContainsAny(short, "\r\n"), "shortDescription %q: 1 to 50 characters on one line (%d)", short, len(short))
	check(!strings.Contains(strings.ToLower(short), "kubectl") && !strings.Contains(strings.ToLower(short), "plugin"), "shortDescription %q repeats kubectl or plugin", short)
	check(strings.TrimSpace(m.Spec.Description) != "", "no description")
	usage := regexp.MustCompile("(?m)^\\s*(\\$ |kubectl |#)|```|(^|\\s)--?[a-z]")
	check(!usage.MatchString(m.Spec.Description), "description holds a usage example: %q", usage.FindString(m.Spec.Description))
	check(strings.Contains(m.Spec.Caveats, "/store/mesh/"+version+"/kubectl_complete-mesh"), "caveats do not say where the completion helper is:\n%s", m.Spec.Caveats)

	check(len(m.Spec.Platforms) == len(releaseTargets), "%d platforms, want %d", len(m.Spec.Platforms), len(releaseTargets))
	seen := map[string]bool{}
	for i, p := range m.Spec.Platforms {
		labels := p.Selector.MatchLabels
		check(len(labels) == 2 && labels["os"] != "" && labels["arch"] != "" && p.Selector.MatchExpressions == nil,
			"platforms[%d].selector %v: matchLabels os and arch only", i, labels)
		key := labels["os"] + "/" + labels["arch"]
		check(!seen[key], "platforms[%d]: %s selected twice", i, key)
		seen[key] = true
		tg := target{labels["os"], labels["arch"]}
		a, ok := archives[tg.archiveName()]
		check(ok, "platforms[%d]: %s is not a release target", i, key)
		check(p.URI == defaultReleaseURL+"/"+version+"/"+tg.archiveName(), "platforms[%d].uri %s", i, p.URI)
		check(p.SHA256 == a.sha256, "platforms[%d].sha256 %s, archive's %s", i, p.SHA256, a.sha256)
		check(regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(p.SHA256), "platforms[%d].sha256 %q", i, p.SHA256)
		check(p.Bin == tg.binary(), "platforms[%d].bin %q", i, p.Bin)

		inArchive := map[string]bool{}
		for _, e := range readArchive(t, a.path) {
			inArchive[e.name] = true
		}
		var from []string
		for _, f := range p.Files {
			check(f.From != "" && f.To == ".", "platforms[%d].files %+v", i, f)
			check(inArchive[f.From], "platforms[%d].files: %s is not in %s", i, f.From, tg.archiveName())
			from = append(from, f.From)
		}
		helper, _ := tg.completionHelper()
		for _, need := range []string{p.Bin, "LICENSE", helper} {
			check(slices.Contains(from, need), "platforms[%d].files do not extract %s", i, need)
		}
	}
	for _, tg := range releaseTargets {
		check(seen[tg.String()], "no platform selects %s", tg)
	}
}

// renderManifest refuses a template that names a field it does not get.
func TestManifestTemplateErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml.tmpl")
	if err := os.WriteFile(bad, []byte("version: {{ .Release }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := renderManifest(bad, "v1.0.0", defaultReleaseURL, nil); err == nil || !strings.Contains(err.Error(), "Release") {
		t.Errorf("unknown field rendered: %v", err)
	}
	if _, err := renderManifest(filepath.Join(t.TempDir(), "none.tmpl"), "v1.0.0", defaultReleaseURL, nil); err == nil {
		t.Error("missing template rendered")
	}
}

// -manifest-only renders from the archives a previous run left, and says
// what to run when they are missing.
func TestManifestFromExistingArchives(t *testing.T) {
	dir := t.TempDir()
	tg := target{"linux", "amd64"}
	made, err := packageTarget(repoRoot, dir, tg, fakeBinary(t, tg), testDate)
	if err != nil {
		t.Fatal(err)
	}
	got, err := existingArchives(dir, []target{tg})
	if err != nil || len(got) != 1 || got[0].sha256 != made.sha256 {
		t.Fatalf("existingArchives = %+v, %v; want %s", got, err, made.sha256)
	}
	_, err = existingArchives(dir, []target{{"darwin", "arm64"}})
	if err == nil || !strings.Contains(err.Error(), "make dist") {
		t.Errorf("missing archive: %v", err)
	}
	out := filepath.Join(dir, "mesh.yaml")
	o := options{out: dir, version: "v0.2.0", manifestTemplate: filepath.Join(repoRoot, "krew", "mesh.yaml.tmpl"), manifestOut: out, releaseURL: "http://127.0.0.1:1/rel"}
	if err := run(o, "linux/amd64", true); err != nil {
		t.Fatal(err)
	}
	manifest, _ := os.ReadFile(out)
	if want := fmt.Sprintf("uri: http://127.0.0.1:1/rel/v0.2.0/kubectl-mesh_linux_amd64.tar.gz\n    sha256: %s\n", made.sha256); !bytes.Contains(manifest, []byte(want)) {
		t.Errorf("manifest lacks %q:\n%s", want, manifest)
	}
	if err := run(o, "linux/amd64", true); err != nil {
		t.Fatal(err)
	}
	o.version = "1.0"
	if err := run(o, "linux/amd64", true); err == nil || !strings.Contains(err.Error(), "-version") {
		t.Errorf("version 1.0 accepted: %v", err)
	}
}
