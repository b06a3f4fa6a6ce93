// Command dist builds the release of kubectl-mesh: a static binary for each
// os/arch, an archive of each (tar.gz, zip for windows) holding the binary,
// LICENSE, README.md and the kubectl_complete-mesh helper, a sha256
// checksums file, and the krew manifest rendered from krew/mesh.yaml.tmpl.
//
//	go run ./hack/dist -version v0.1.0 -ldflags '-s -w -X ...'   build, package, checksums, manifest
//	go run ./hack/dist -version v0.1.0 -manifest-only            manifest from the archives already in -out
//
// Archives are byte for byte reproducible: entries sorted, owners and
// modes fixed, times set to SOURCE_DATE_EPOCH (or a fixed date).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

// defaultReleaseURL is where the project's GitHub releases serve assets:
// an archive's URI is <base>/<version>/<archive>.
const defaultReleaseURL = "https://github.com/kubectl-mesh/kubectl-mesh/releases/download"

func main() {
	var (
		o            options
		targets      string
		manifestOnly bool
	)
	flag.StringVar(&o.root, "root", ".", "the repository root (holding go.mod, LICENSE, README.md)")
	flag.StringVar(&o.out, "out", "dist", "folder for the archives and the checksums file")
	flag.StringVar(&o.version, "version", "", "release version, semver with a leading v (v1.2.3, v0.0.0-gabc1234)")
	flag.StringVar(&o.ldflags, "ldflags", "", "linker flags for go build (version and commit -X flags)")
	flag.StringVar(&targets, "targets", strings.Join(targetNames(releaseTargets), ","), "comma-separated os/arch pairs to build")
	flag.StringVar(&o.manifestTemplate, "krew-template", "krew/mesh.yaml.tmpl", "template of the krew manifest")
	flag.StringVar(&o.manifestOut, "krew-manifest", "krew/mesh.yaml", "where to write the krew manifest (empty: do not write it)")
	flag.StringVar(&o.releaseURL, "release-url", defaultReleaseURL, "base of the archives' download URLs: <base>/<version>/<archive>")
	flag.BoolVar(&manifestOnly, "manifest-only", false, "skip building and packaging; render the manifest from the archives in -out")
	flag.Parse()

	if err := run(o, targets, manifestOnly); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(o options, targets string, manifestOnly bool) error {
	var err error
	if o.targets, err = parseTargets(targets); err != nil {
		return err
	}
	if err := checkVersion(o.version); err != nil {
		return err
	}
	if o.mtime, err = sourceDate(os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var archives []archive
	if manifestOnly {
		archives, err = existingArchives(o.out, o.targets)
	} else {
		archives, err = buildRelease(ctx, o, os.Stderr)
	}
	if err != nil {
		return err
	}
	if o.manifestOut == "" {
		return nil
	}
	manifest, err := renderManifest(o.manifestTemplate, o.version, o.releaseURL, archives)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.manifestOut, manifest, 0o644); err != nil {
		return fmt.Errorf("writing the krew manifest: %w", err)
	}
	fmt.Fprintf(os.Stderr, "dist: wrote %s\n", o.manifestOut)
	return nil
}

// sourceDate is the time stamped on every archive entry: SOURCE_DATE_EPOCH
// (seconds) when set, as reproducible-builds.org defines it, else a fixed
// date. Zip cannot store times before 1980, so earlier ones are raised.
func sourceDate(epoch string) (time.Time, error) {
	floor := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	if epoch == "" {
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH must be seconds since 1970, not %q", epoch)
	}
	t := time.Unix(secs, 0).UTC()
	if t.Before(floor) {
		t = floor
	}
	return t, nil
}
