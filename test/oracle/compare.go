package oracle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// BreakageCodes are kubectl-mesh's checks of the breakage class: each
// must be an error exactly where the oracle shows traffic failing.
var BreakageCodes = map[string]bool{
	"MESH0201": true, // UnknownHost
	"MESH0301": true, // UnknownSubset
	"MESH0401": true, // UnknownPort
	"MESH0402": true, // PortSelectorRequired (no cluster on the listener's port)
	"MESH0501": true, // UnknownGateway
	"MESH0502": true, // HostsNotServedByGateway
	"MESH0504": true, // HiddenFromGateway
}

// Finding is one finding of `kubectl mesh validate -o json`.
type Finding struct {
	Severity  string `json:"severity"`
	Category  string `json:"category"`
	Code      string `json:"code"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Field     string `json:"field"`
	Message   string `json:"message"`
}

// Validate runs the kubectl-mesh binary's validate over a file.
func Validate(bin, file string) ([]Finding, error) {
	cmd := exec.Command(bin, "validate", "-f", file, "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("kubectl-mesh validate -f %s: %w: %s", file, err, stderr.String())
	}
	var out struct {
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("reading validate's JSON for %s: %w", file, err)
	}
	return out.Findings, nil
}

var (
	destinationField = regexp.MustCompile(`^(spec\.http\[\d+\]\.(route\[\d+\]|mirrors\[\d+\])\.destination)`)
	mirrorField      = regexp.MustCompile(`^(spec\.http\[\d+\]\.mirror)\b`)
)

// Site is a place of a VirtualService that breaks or not.
type Site struct {
	Namespace, Name, Field string
}

func (s Site) String() string { return s.Namespace + "/" + s.Name + " " + s.Field }

// productSite maps a breakage finding to the place the oracle judges;
// false for findings outside what the oracle traces (TCP and TLS routes).
func productSite(f Finding) (Site, bool) {
	s := Site{Namespace: f.Namespace, Name: f.Name}
	switch {
	case strings.HasPrefix(f.Field, "spec.gateways"), f.Code == "MESH0504":
		s.Field = "spec.gateways"
	case destinationField.MatchString(f.Field):
		s.Field = destinationField.FindStringSubmatch(f.Field)[1]
	case mirrorField.MatchString(f.Field):
		s.Field = mirrorField.FindStringSubmatch(f.Field)[1]
	default:
		return s, false
	}
	return s, true
}

// Disagreement is one place where kubectl-mesh and pilot differ.
type Disagreement struct {
	Site Site
	// Oracle is why pilot shows the traffic failing; empty when it works.
	Oracle string
	// Product are kubectl-mesh's breakage errors there; empty when none.
	Product []string
}

func (d Disagreement) String() string {
	if d.Oracle != "" {
		return fmt.Sprintf("%s: pilot shows it broken (%s) but kubectl-mesh reports no error", d.Site, d.Oracle)
	}
	return fmt.Sprintf("%s: pilot routes it, but kubectl-mesh reports %s", d.Site, strings.Join(d.Product, "; "))
}

// Compare lists where the product's breakage errors differ from the
// oracle's verdict.
func Compare(v *Verdict, findings []Finding) []Disagreement {
	product := map[Site][]string{}
	for _, f := range findings {
		if f.Kind != "VirtualService" || f.Severity != "error" || !BreakageCodes[f.Code] {
			continue
		}
		if s, ok := productSite(f); ok {
			product[s] = append(product[s], f.Code+" "+f.Message)
		}
	}
	oracle := map[Site]string{}
	for _, vs := range v.VirtualServices {
		for _, b := range vs.Broken {
			oracle[Site{vs.Namespace, vs.Name, b.Field}] = b.Reason
		}
	}
	return disagreements(oracle, product)
}

// disagreements lists the sites pilot shows broken (oracle, with why) that
// the product's errors miss, and those the product refuses that pilot
// routes.
func disagreements(oracle map[Site]string, product map[Site][]string) []Disagreement {
	var out []Disagreement
	for s, reason := range oracle {
		if len(product[s]) == 0 {
			out = append(out, Disagreement{Site: s, Oracle: reason})
		}
	}
	for s, msgs := range product {
		if oracle[s] == "" {
			out = append(out, Disagreement{Site: s, Product: msgs})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site.String() < out[j].Site.String() })
	return out
}

// RepoRoot is the kubectl-mesh repository holding this module.
func RepoRoot() (string, error) {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "kubectl-mesh")); err != nil {
		return "", fmt.Errorf("no kubectl-mesh repository at %s: %w", dir, err)
	}
	return dir, nil
}
