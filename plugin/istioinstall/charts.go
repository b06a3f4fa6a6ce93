package istioinstall

import (
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
	tmp, err := os.MkdirTemp("", "kubectl-mesh-charts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	getters := getter.All(settings)
	for _, c := range comps {
		if out[c.Chart] != nil {
			continue
		}
		ch, err := fetch(repoURL, c.Chart, o.Version, tmp, getters)
		if err != nil {
			return nil, fmt.Errorf("fetching chart %s %s from %s: %w (without access to it, --charts DIR installs from a copy of Istio's manifests/charts)", c.Chart, o.Version, repoURL, err)
		}
		out[c.Chart] = ch
	}
	return out, nil
}

// repositoryURL is --repo, or the URL Helm's repositories file has for
// the repository named istio.
func repositoryURL(flag string, settings *cli.EnvSettings) (string, error) {
	if flag != "" {
		return flag, nil
	}
	f, err := repo.LoadFile(settings.RepositoryConfig)
	if err == nil && f.Has(RepoName) {
		return f.Get(RepoName).URL, nil
	}
	return "", &InputError{fmt.Errorf("no chart repository: Helm's repositories file (%s) has no repository named %q; add Istio's chart repository under that name (helm repo add %s URL, with the URL from Istio's Helm installation guide), or pass --repo URL, or --charts DIR for a local copy of Istio's manifests/charts",
		settings.RepositoryConfig, RepoName, RepoName)}
}

// fetch downloads one chart version from a repository into dir and loads it.
func fetch(repoURL, name, version, dir string, getters getter.Providers) (*chart.Chart, error) {
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
