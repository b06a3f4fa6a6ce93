package fastyaml

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Chunk is one document of a stream, without its markers.
type Chunk struct {
	Data []byte
	Line int // 1-based line of the chunk's first line
}

// Split cuts a YAML stream at lines that are "---" or "...",
// alone or followed by a comment. ok is false when a marker line carries
// content ("--- !tag", "--- {a: 1}") or a directive is present.
func Split(data []byte) ([]Chunk, bool) {
	var out []Chunk
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		l := bytes.TrimRight(data[pos:next], "\r\n")
		if len(l) > 0 && l[0] == '%' {
			return nil, false
		}
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) {
			rest := bytes.TrimSpace(l[3:])
			if len(l) > 3 && l[3] != ' ' && l[3] != '\t' {
				// "----" or "---x" is content, not a marker.
				pos, line = next, line+1
				continue
			}
			if len(rest) > 0 && rest[0] != '#' {
				return nil, false
			}
			out = append(out, Chunk{Data: data[start:pos], Line: startLine})
			start, startLine = next, line+1
		}
		pos, line = next, line+1
	}
	out = append(out, Chunk{Data: data[start:], Line: startLine})
	// A leading "---" leaves an empty first chunk that is no document.
	if len(out) > 1 && len(bytes.TrimSpace(out[0].Data)) == 0 {
		out = out[1:]
	}
	return out, true
}

// maxExpandedNodes bounds alias expansion ("billion laughs").
const maxExpandedNodes = 1 << 20

// DecodeNode converts a document yaml.v3 has parsed to the values
// Decode gives, with the line of its root and of each element of a List's
// items (1-based within the parsed data). It is the exact reader: aliases
// (bounded), merge keys and every scalar yaml.v3 resolves. An empty
// document gives value nil and rootLine 0.
func DecodeNode(root *yaml.Node) (value any, rootLine int, itemLines []int, err error) {
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return nil, 0, nil, nil
	}
	n := root
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	budget := maxExpandedNodes
	v, err := nodeValue(n, &budget, 0)
	if err != nil {
		return nil, n.Line, nil, err
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "items" && n.Content[i+1].Kind == yaml.SequenceNode {
				for _, it := range n.Content[i+1].Content {
					itemLines = append(itemLines, it.Line)
				}
			}
		}
	}
	return v, n.Line, itemLines, nil
}

// nodeValue converts a YAML node to the JSON-like values Rego takes:
// map[string]any, []any, string, int64, float64, bool and nil.
func nodeValue(n *yaml.Node, budget *int, depth int) (any, error) {
	*budget--
	if *budget < 0 {
		return nil, errors.New("document expands to too many nodes (aliases)")
	}
	if depth > 1000 {
		return nil, errors.New("document is nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0], budget, depth+1)
	case yaml.AliasNode:
		return nodeValue(n.Alias, budget, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			val, err := nodeValue(v, budget, depth+1)
			if err != nil {
				return nil, err
			}
			key := k.Value
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
			}
			out[key] = val
		}
		// Merged keys never override the mapping's own.
		for _, m := range merges {
			if err := mergeInto(out, m, budget, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarValue(n), nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func mergeInto(out map[string]any, m *yaml.Node, budget *int, depth int) error {
	for m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	var sources []*yaml.Node
	switch m.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{m}
	case yaml.SequenceNode:
		sources = m.Content
	default:
		return fmt.Errorf("line %d: merge key needs a mapping", m.Line)
	}
	for _, s := range sources {
		v, err := nodeValue(s, budget, depth+1)
		if err != nil {
			return err
		}
		vm, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("line %d: merge key needs a mapping", s.Line)
		}
		for k, val := range vm {
			if _, own := out[k]; !own {
				out[k] = val
			}
		}
	}
	return nil
}

func scalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return v
		}
		var v int64
		if n.Decode(&v) == nil {
			return v
		}
		var u uint64
		if n.Decode(&u) == nil {
			return u
		}
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	return n.Value
}
