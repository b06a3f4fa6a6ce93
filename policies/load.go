package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/kubectl-mesh/kubectl-mesh/policies/internal/fastyaml"
)

// InputError names the file, line and document of input that could not be
// read as Kubernetes objects.
type InputError struct {
	Path string
	// Line is 1-based; 0 when the error is about the whole path.
	Line int
	// Document is the 1-based document index in a multi-document file; 0
	// when not about one document.
	Document int
	Err      error
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// LoadOptions say how Load reads its paths.
type LoadOptions struct {
	// Recursive descends into subdirectories of directory arguments.
	Recursive bool
	// DefaultNamespace is given to namespaced objects without one.
	DefaultNamespace string
	// Stdin is read for the path "-".
	Stdin io.Reader
}

// StdinName is how findings and errors name standard input.
const StdinName = "<stdin>"

// Load reads files, directories (*.yaml, *.yml, *.json) and "-" for
// standard input, returning every object in order. Any unreadable input
// stops the load with an *InputError: a half-read inventory would make the
// checks lie.
func Load(paths []string, opts LoadOptions) ([]*Object, error) {
	var out []*Object
	if err := LoadEach(paths, opts, func(o *Object) error {
		out = append(out, o)
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadEach reads what Load reads and hands each object to fn in order as
// soon as it is decoded, holding only a batch of decoded documents (see
// ParseEach): a caller that keeps little of each object, such as an
// inventory, stays small however large the input. Objects before an
// unreadable input have been handed to fn when the *InputError comes back;
// an error from fn stops the load and is returned as it is.
func LoadEach(paths []string, opts LoadOptions, fn func(*Object) error) error {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = "default"
	}
	files, err := expandPaths(paths, opts.Recursive)
	if err != nil {
		return err
	}
	for _, f := range files {
		var data []byte
		name := f
		if f == "-" {
			name = StdinName
			if opts.Stdin == nil {
				return &InputError{Path: name, Err: errors.New("no standard input")}
			}
			data, err = io.ReadAll(opts.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return &InputError{Path: name, Err: unwrapPathError(err)}
		}
		if err := ParseEach(name, data, opts.DefaultNamespace, fn); err != nil {
			return err
		}
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

var manifestExtensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

func expandPaths(paths []string, recursive bool) ([]string, error) {
	var files []string
	for _, p := range paths {
		if p == "-" {
			files = append(files, p)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, &InputError{Path: p, Err: unwrapPathError(err)}
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return &InputError{Path: path, Err: unwrapPathError(err)}
			}
			if d.IsDir() {
				if path != p && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if manifestExtensions[strings.ToLower(filepath.Ext(path))] {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// clusterScoped kinds never get the default namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"PriorityClass": true, "APIService": true, "IngressClass": true, "RuntimeClass": true,
}

// Parse reads the objects of one file: multi-document YAML, or JSON (one
// or more objects); List kinds are expanded to their items.
func Parse(name string, data []byte, defaultNamespace string) ([]*Object, error) {
	var out []*Object
	if err := ParseEach(name, data, defaultNamespace, func(o *Object) error {
		out = append(out, o)
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseEach reads the objects of one file as Parse does and hands each to
// fn in order. YAML streams are decoded a batch of documents at a time;
// the first error in document order stops it.
func ParseEach(name string, data []byte, defaultNamespace string, fn func(*Object) error) error {
	each := func(d document) error {
		objs, err := objectsOf(name, d)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if o.Namespace() == "" && !clusterScoped[o.Kind()] {
				o.SetNamespace(defaultNamespace)
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		return nil
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		docs, err := parseJSON(name, data)
		return forEachDocument(docs, err, each)
	}
	return parseYAML(name, data, each)
}

// document is one decoded YAML document or JSON value.
type document struct {
	index int // 1-based
	line  int
	value any
	// itemLines holds the line of each element of a List's items.
	itemLines []int
}

func objectsOf(name string, d document) ([]*Object, error) {
	if d.value == nil {
		return nil, nil // an empty document, or one of comments only
	}
	if items, ok := d.value.([]any); ok {
		return listItems(name, d, items)
	}
	m, ok := d.value.(map[string]any)
	if !ok {
		return nil, &InputError{Path: name, Line: d.line, Document: d.index, Err: fmt.Errorf("not a Kubernetes object: a %s instead of a mapping", typeName(d.value))}
	}
	if err := checkObject(m); err != nil {
		return nil, &InputError{Path: name, Line: d.line, Document: d.index, Err: err}
	}
	if items, ok := m["items"].([]any); ok && strings.HasSuffix(str(m["kind"]), "List") {
		return listItems(name, d, items)
	}
	return []*Object{NewObject(m, Source{File: name, Line: d.line, Document: d.index})}, nil
}

func listItems(name string, d document, items []any) ([]*Object, error) {
	out := make([]*Object, 0, len(items))
	for i, it := range items {
		line := d.line
		if i < len(d.itemLines) {
			line = d.itemLines[i]
		}
		m, ok := it.(map[string]any)
		if !ok {
			return nil, &InputError{Path: name, Line: line, Document: d.index, Err: fmt.Errorf("items[%d] is not a Kubernetes object: a %s instead of a mapping", i, typeName(it))}
		}
		if err := checkObject(m); err != nil {
			return nil, &InputError{Path: name, Line: line, Document: d.index, Err: fmt.Errorf("items[%d]: %w", i, err)}
		}
		out = append(out, NewObject(m, Source{File: name, Line: line, Document: d.index}))
	}
	return out, nil
}

func checkObject(m map[string]any) error {
	for _, f := range []string{"apiVersion", "kind"} {
		v, ok := m[f]
		if !ok {
			return fmt.Errorf("not a Kubernetes object: %s is missing", f)
		}
		if s, ok := v.(string); !ok || s == "" {
			return fmt.Errorf("not a Kubernetes object: %s must be a non-empty string", f)
		}
	}
	if md, ok := m["metadata"]; ok {
		if _, ok := md.(map[string]any); !ok {
			return fmt.Errorf("metadata must be a mapping, not a %s", typeName(md))
		}
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	default:
		return "number"
	}
}

func parseJSON(name string, data []byte) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []document
	for i := 1; ; i++ {
		// The value starts after any white space the decoder skips.
		off := int(dec.InputOffset())
		for off < len(data) && strings.IndexByte(" \t\r\n", data[off]) >= 0 {
			off++
		}
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			line := 1 + bytes.Count(data[:min(len(data), int(dec.InputOffset()))], []byte{'\n'})
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line = 1 + bytes.Count(data[:min(len(data), int(se.Offset))], []byte{'\n'})
			}
			return nil, &InputError{Path: name, Line: line, Document: i, Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		docs = append(docs, document{index: i, line: 1 + bytes.Count(data[:off], []byte{'\n'}), value: fromJSON(v)})
	}
}

// fromJSON turns json.Number into int64 or float64, as YAML decoding does.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = fromJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSON(x[k])
		}
	}
	return v
}

// yamlBatch is how many documents parseYAML decodes before handing them
// on: enough to keep every core busy, few enough that a caller keeping
// little of each object never holds the decoded maps of a whole large file.
const yamlBatch = 512

// parseYAML splits the stream on document markers and decodes the
// documents in parallel, a batch at a time, handing each to fn in order:
// large inventories are the common case in CI. A stream whose markers
// carry content falls back to the sequential decoder.
func parseYAML(name string, data []byte, fn func(document) error) error {
	chunks, ok := fastyaml.Split(data)
	if !ok {
		docs, err := parseYAMLSequential(name, data)
		return forEachDocument(docs, err, fn)
	}
	docs := make([]document, min(yamlBatch, len(chunks)))
	errs := make([]error, len(docs))
	for start := 0; start < len(chunks); start += yamlBatch {
		batch := chunks[start:min(start+yamlBatch, len(chunks))]
		decodeBatch(name, start, batch, docs, errs)
		for i := range batch {
			if errs[i] != nil {
				return errs[i]
			}
			if err := fn(docs[i]); err != nil {
				return err
			}
			docs[i] = document{}
		}
	}
	return nil
}

// forEachDocument hands docs to fn in order, unless decoding them failed.
func forEachDocument(docs []document, err error, fn func(document) error) error {
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// decodeBatch decodes chunks, the documents numbered from first+1, into
// docs and errs on all cores.
func decodeBatch(name string, first int, chunks []fastyaml.Chunk, docs []document, errs []error) {
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(chunks); i += workers {
				c := chunks[i]
				index := first + i + 1
				errs[i] = nil
				// Most manifests are in the subset fastyaml.Decode reads;
				// anything else, invalid YAML included, goes to yaml.v3.
				if v, line, items, ok := fastyaml.Decode(c.Data); ok {
					d := document{index: index, value: v, itemLines: items}
					if line > 0 {
						d.line = line + c.Line - 1
					}
					for k := range d.itemLines {
						d.itemLines[k] += c.Line - 1
					}
					docs[i] = d
					continue
				}
				var root yaml.Node
				if err := yaml.Unmarshal(c.Data, &root); err != nil {
					errs[i] = yamlError(name, index, c.Line-1, err)
					continue
				}
				docs[i], errs[i] = decodeDocument(name, index, c.Line-1, &root)
			}
		}(w)
	}
	wg.Wait()
}

func parseYAMLSequential(name string, data []byte) ([]document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []document
	for i := 1; ; i++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, yamlError(name, i, 0, err)
		}
		d, err := decodeDocument(name, i, 0, &root)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
}

func yamlError(name string, doc, lineOffset int, err error) error {
	msg := err.Error()
	line := 0
	// yaml.v3 reports "yaml: line N: ..."; make N a line of the file.
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if n, tail, found := strings.Cut(rest, ":"); found {
			if v, err := strconv.Atoi(n); err == nil {
				msg = strings.TrimSpace(tail)
				// yaml.v3 prints parser errors' 0-based lines (scanner
				// errors' are already 1-based).
				if isParserError(msg) {
					v++
				}
				line = v + lineOffset
			}
		}
	} else {
		// Without a line, yaml.v3 means the first one.
		msg = strings.TrimPrefix(msg, "yaml: ")
		line = 1 + lineOffset
	}
	return &InputError{Path: name, Line: line, Document: doc, Err: fmt.Errorf("invalid YAML: %s", msg)}
}

func isParserError(msg string) bool {
	for _, p := range []string{"did not find expected key", "did not find expected node content", "did not find expected ',' or", "did not find expected '-' indicator", "did not find expected <document start>"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func decodeDocument(name string, index, lineOffset int, root *yaml.Node) (document, error) {
	v, line, items, err := fastyaml.DecodeNode(root)
	d := document{index: index}
	if line > 0 {
		d.line = line + lineOffset
	}
	if err != nil {
		return d, &InputError{Path: name, Line: d.line, Document: index, Err: err}
	}
	d.value = v
	for _, l := range items {
		d.itemLines = append(d.itemLines, l+lineOffset)
	}
	return d, nil
}
