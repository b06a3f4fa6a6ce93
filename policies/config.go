package policies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// ConfigFile is the file --config takes:
//
//	clusterDomain: cluster.local
//	rootNamespace: istio-system
//	rules:
//	  MESH0104: warning   # error, warning or off
type ConfigFile struct {
	ClusterDomain string            `yaml:"clusterDomain"`
	RootNamespace string            `yaml:"rootNamespace"`
	Rules         map[string]string `yaml:"rules"`
}

// codePattern accepts built-in codes (MESH0104) and user policies' (ACME0001).
var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*[0-9]{4}$`)

// LoadConfig reads a config file into Settings. Unknown keys, unknown
// severities and malformed codes are errors naming the file and line.
func LoadConfig(path string) (Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, &InputError{Path: path, Err: unwrapPathError(err)}
	}
	return ParseConfig(path, data)
}

// ParseConfig parses the contents of a config file named path.
func ParseConfig(path string, data []byte) (Settings, error) {
	var cf ConfigFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil && !errors.Is(err, io.EOF) {
		return Settings{}, yamlError(path, 0, 0, err)
	}
	s := Settings{ClusterDomain: cf.ClusterDomain, RootNamespace: cf.RootNamespace, Rules: map[string]Severity{}}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	for code, sev := range cf.Rules {
		line := lineOfKey(&root, "rules", code)
		if !codePattern.MatchString(code) {
			return Settings{}, &InputError{Path: path, Line: line, Err: fmt.Errorf("rules: %q is not a check code like MESH0104 or ACME0001", code)}
		}
		v, err := ParseSeverity(sev)
		if err != nil {
			return Settings{}, &InputError{Path: path, Line: line, Err: fmt.Errorf("rules.%s: %w", code, err)}
		}
		s.Rules[code] = v
	}
	return s, nil
}

// lineOfKey finds the line of key under the top-level mapping entry parent.
func lineOfKey(root *yaml.Node, parent, key string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != parent {
			continue
		}
		m := n.Content[i+1]
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == key {
				return m.Content[j].Line
			}
		}
	}
	return 0
}

// Merge overlays the non-empty fields of o on s.
func (s Settings) Merge(o Settings) Settings {
	if o.ClusterDomain != "" {
		s.ClusterDomain = o.ClusterDomain
	}
	if o.RootNamespace != "" {
		s.RootNamespace = o.RootNamespace
	}
	if len(o.Rules) > 0 {
		rules := make(map[string]Severity, len(s.Rules)+len(o.Rules))
		for k, v := range s.Rules {
			rules[k] = v
		}
		for k, v := range o.Rules {
			rules[k] = v
		}
		s.Rules = rules
	}
	return s
}
