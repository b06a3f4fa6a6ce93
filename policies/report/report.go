// Package report writes validation findings as text, JSON or SARIF: the
// output formats of `kubectl mesh validate`, apart from the policy core
// that produces the findings.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Report is the outcome of validating a set of resources.
type Report struct {
	Findings []policies.Finding `json:"findings"`
	// Resources counts the objects read, every kind included.
	Resources int `json:"resources"`
}

// WriteText prints one line per finding, then a summary line.
func (r Report) WriteText(w io.Writer) error {
	for _, f := range r.Findings {
		if _, err := fmt.Fprintln(w, f.Text()); err != nil {
			return err
		}
	}
	errs := policies.CountErrors(r.Findings)
	warns := len(r.Findings) - errs
	var err error
	if len(r.Findings) == 0 {
		_, err = fmt.Fprintf(w, "No problems found in %s.\n", plural(r.Resources, "resource"))
	} else {
		_, err = fmt.Fprintf(w, "%s, %s in %s.\n", plural(errs, "error"), plural(warns, "warning"), plural(r.Resources, "resource"))
	}
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON prints the report in the documented shape (docs/validate.md).
func (r Report) WriteJSON(w io.Writer) error {
	if r.Findings == nil {
		r.Findings = []policies.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SARIF 2.1.0, the subset GitHub code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration map[string]string `json:"defaultConfiguration"`
	Properties           map[string]any    `json:"properties"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// ProjectURL is where rule help points.
const ProjectURL = "https://github.com/kubectl-mesh/kubectl-mesh"

// WriteSARIF prints the report as SARIF 2.1.0: a rule per code that
// occurs, file URIs relative to the working directory, the object's line.
func (r Report) WriteSARIF(w io.Writer, toolVersion string) error {
	ruleIndex := map[string]int{}
	var rules []sarifRule
	codes := map[string]bool{}
	for _, f := range r.Findings {
		codes[f.Code] = true
	}
	sorted := make([]string, 0, len(codes))
	for c := range codes {
		sorted = append(sorted, c)
	}
	sort.Strings(sorted)
	for _, code := range sorted {
		c, ok := policies.CheckByCode(code)
		if !ok {
			c = policies.Check{Code: code, Name: "CustomPolicy", Category: "other", Severity: policies.SeverityError, Summary: "A finding of a user policy.", Fix: "See the policy that reports it."}
		}
		ruleIndex[code] = len(rules)
		rules = append(rules, sarifRule{
			ID:                   c.Code,
			Name:                 c.Name,
			ShortDescription:     sarifText{Text: c.Summary},
			FullDescription:      sarifText{Text: c.Summary},
			Help:                 sarifText{Text: c.Fix},
			DefaultConfiguration: map[string]string{"level": sarifLevel(c.Severity)},
			Properties:           map[string]any{"category": c.Category, "tags": []string{"istio", c.Category}},
		})
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		loc := sarifLocation{LogicalLocations: []sarifLogical{{
			FullyQualifiedName: fmt.Sprintf("%s/%s/%s", f.Kind, f.Namespace, f.Name) + fieldSuffix(f.Field),
			Kind:               "resource",
		}}}
		if f.File != "" && f.File != policies.StdinName {
			p := &sarifPhysical{ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(filepath.Clean(f.File)), URIBaseID: "%SRCROOT%"}}
			if f.Line > 0 {
				p.Region = &sarifRegion{StartLine: f.Line}
			}
			loc.PhysicalLocation = p
		}
		results = append(results, sarifResult{
			RuleID:    f.Code,
			RuleIndex: ruleIndex[f.Code],
			Level:     sarifLevel(f.Severity),
			Message:   sarifText{Text: fmt.Sprintf("%s %s/%s %s: %s", f.Kind, f.Namespace, f.Name, f.Field, f.Message)},
			Locations: []sarifLocation{loc},
		})
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: "kubectl-mesh", Version: toolVersion, InformationURI: ProjectURL, Rules: rules}},
			Results: results,
		}},
	}
	if log.Runs[0].Tool.Driver.Rules == nil {
		log.Runs[0].Tool.Driver.Rules = []sarifRule{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func fieldSuffix(field string) string {
	if field == "" {
		return ""
	}
	return "/" + field
}

func sarifLevel(s policies.Severity) string {
	if s == policies.SeverityWarning {
		return "warning"
	}
	return "error"
}

// Formats lists the formats Write takes, the first the default.
func Formats() []string { return []string{"text", "json", "sarif"} }

// Write prints r in format (one of Formats); toolVersion goes into SARIF.
func Write(w io.Writer, format string, r Report, toolVersion string) error {
	switch format {
	case "text":
		return r.WriteText(w)
	case "json":
		return r.WriteJSON(w)
	case "sarif":
		return r.WriteSARIF(w, toolVersion)
	}
	return fmt.Errorf("unknown report format %q (want text, json or sarif)", format)
}
