// Package charts embeds the Helm chart of mesh-webhook so that the
// kubectl-mesh binary can install it without reaching any chart repository.
package charts

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
)

// MeshWebhookName is the chart's name and its folder here.
const MeshWebhookName = "mesh-webhook"

//go:embed all:mesh-webhook
var embedded embed.FS

// MeshWebhook returns the chart's files, rooted at the chart folder
// (Chart.yaml, values.yaml, templates/...).
func MeshWebhook() (fs.FS, error) {
	return fs.Sub(embedded, MeshWebhookName)
}

// LoadMeshWebhook builds the embedded chart.
func LoadMeshWebhook() (*chart.Chart, error) {
	fsys, err := MeshWebhook()
	if err != nil {
		return nil, err
	}
	return Load(fsys)
}

// Load builds a chart from the files of fsys, rooted at the chart folder,
// the way `helm` loads a chart directory: .helmignore (and Helm's default
// rules) leave files out, and helm.sh/helm/v3/pkg/chart/loader.LoadFiles
// does the rest.
func Load(fsys fs.FS) (*chart.Chart, error) {
	rules := ignore.Empty()
	if b, err := fs.ReadFile(fsys, ignore.HelmIgnore); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("reading %s: %w", ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if rules.Ignore(name, fi) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: path.Clean(name), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the chart: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	return c, nil
}
