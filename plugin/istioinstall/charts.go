package istioinstall

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/repo"
)

// RepoName is the name under which Istio's chart repository is looked up
// in Helm's repositories file when no repository URL is given (the name
// Istio's Helm install instructions add it under).
const RepoName = "istio"

// DefaultRepo is Istio's official Helm chart repository, where install
// takes its charts from unless told otherwise.
const DefaultRepo = "https://istio-release.storage.googleapis.com/charts"

// RepoEnv names the environment variable that replaces DefaultRepo, for a
// mirror of Istio's chart repository.
const RepoEnv = "KUBECTL_MESH_ISTIO_REPO"

// fetchTimeout bounds each download from the chart repository.
const fetchTimeout = time.Minute

// InputError is a problem with what the user gave (a charts folder without
// the charts, no repository to read): exit 2 for the command.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// LoadCharts loads the charts of the components, by chart name: from
// o.ChartsDir when set, from the chart repository at o.Version otherwise.
// Every chart is loaded before anything is installed, so a missing one
// changes nothing.
func LoadCharts(o Options, comps []Component) (map[string]*chart.Chart, error) {
	out := map[string]*chart.Chart{}
	if o.ChartsDir != "" {
		for _, c := range comps {
			if out[c.Chart] != nil {
				continue
			}
			dir := filepath.Join(o.ChartsDir, filepath.FromSlash(c.Dir))
			if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, &InputError{fmt.Errorf("--charts %s: no chart %s in %s (the folder is laid out like Istio's manifests/charts: base/, istio-control/istio-discovery/, gateway/)", o.ChartsDir, c.Chart, dir)}
				}
				return nil, &InputError{fmt.Errorf("--charts %s: %w", o.ChartsDir, err)}
			}
			ch, err := loader.Load(dir)
			if err != nil {
				return nil, &InputError{fmt.Errorf("--charts %s: loading chart %s: %w", o.ChartsDir, dir, err)}
			}
			out[c.Chart] = ch
		}
		return out, nil
	}
	settings := cli.New()
	repoURL, err := repositoryURL(o.Repo, settings)
	if err != nil {
		return nil, err
	}
	// Charts are kept in Helm's cache by repository and version: a second
	// install of the same version needs no network.
	cache := filepath.Join(settings.RepositoryCache, "kubectl-mesh", cacheKey(repoURL))
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	getters := getter.All(settings)
	for _, c := range comps {
		if out[c.Chart] != nil {
			continue
		}
		ch, err := fetch(repoURL, c.Chart, o.Version, cache, getters)
		if err != nil {
			return nil, fmt.Errorf("fetching chart %s %s from %s: %w (without access to it, install from a copy of Istio's manifests/charts: kubectl mesh install --charts DIR)", c.Chart, o.Version, repoURL, err)
		}
		out[c.Chart] = ch
	}
	return out, nil
}

// cacheKey is a folder name for a repository URL.
func cacheKey(repoURL string) string {
	sum := sha256.Sum256([]byte(repoURL))
	return hex.EncodeToString(sum[:8])
}

// repositoryURL is --repo, or the URL Helm's repositories file has for
// the repository named istio, or Istio's own chart repository.
func repositoryURL(flag string, settings *cli.EnvSettings) (string, error) {
	if flag != "" {
		return flag, nil
	}
	f, err := repo.LoadFile(settings.RepositoryConfig)
	if err == nil && f.Has(RepoName) {
		return f.Get(RepoName).URL, nil
	}
	return DefaultRepo, nil
}

// fetch loads one chart version from dir, where an earlier fetch keeps
// it, or else downloads it there from the repository.
func fetch(repoURL, name, version, dir string, getters getter.Providers) (*chart.Chart, error) {
	kept := filepath.Join(dir, name+"-"+version+".tgz")
	if _, err := os.Stat(kept); err == nil {
		return loader.Load(kept)
	}
	chartURL, err := repo.FindChartInRepoURL(repoURL, name, version, "", "", "", getters)
	if err != nil {
		return nil, err
	}
	dl := downloader.ChartDownloader{
		Out:     os.Stderr,
		Getters: getters,
		Options: []getter.Option{getter.WithTimeout(fetchTimeout)},
	}
	path, _, err := dl.DownloadTo(chartURL, version, dir)
	if err != nil {
		return nil, err
	}
	return loader.Load(path)
}
