package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// manifestData is what krew/mesh.yaml.tmpl sees.
type manifestData struct {
	Version   string
	Platforms []platformData
}

type platformData struct {
	OS, Arch string
	URI      string
	SHA256   string
	Bin      string
	Files    []string
}

// renderManifest fills the krew manifest template with the version and,
// for each archive, its selector, download URL, sha256 and files.
func renderManifest(templatePath, version, releaseURL string, archives []archive) ([]byte, error) {
	text, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, fmt.Errorf("reading the krew manifest template: %w", err)
	}
	tmpl, err := template.New(filepath.Base(templatePath)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", templatePath, err)
	}
	data := manifestData{Version: version}
	base := strings.TrimSuffix(releaseURL, "/")
	for _, a := range archives {
		t := a.target
		data.Platforms = append(data.Platforms, platformData{
			OS: t.OS, Arch: t.Arch,
			URI:    base + "/" + version + "/" + t.archiveName(),
			SHA256: a.sha256,
			Bin:    t.binary(),
			Files:  t.installedFiles(),
		})
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", templatePath, err)
	}
	return out.Bytes(), nil
}
