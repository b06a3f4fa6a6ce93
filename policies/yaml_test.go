package policies

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

func smallMesh(t testing.TB) []byte {
	var buf bytes.Buffer
	if _, err := meshgen.Write(&buf, meshgen.Spec{Services: 200, Namespaces: 5, ErrorEvery: 7}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParseYAMLMatchesSequential checks the whole parallel path, fast
// decoder included, against yaml.v3 reading the stream document by
// document.
func TestParseYAMLMatchesSequential(t *testing.T) {
	streams := [][]byte{smallMesh(t)}
	// Documents in and out of the fast reader's subset (a block scalar, an alias).
	streams = append(streams, []byte("a: 1\n---\nb:\n  c: [x, 'y']\n---\ng: |\n  text\n---\nd: &a {e: 1}\nf: *a\n"))
	streams = append(streams, []byte("---\na: 1\n---\nkind: List\nitems:\n- a: 1\n- b: 2\n---\nb: [1, 2]\n"))
	// More documents than a batch, the last batch a partial one.
	streams = append(streams, []byte(strings.Repeat("---\na: 1\nb: [x, {c: 2}]\n", 2*yamlBatch+3)))
	for i, data := range streams {
		var got []document
		err := parseYAML("x.yaml", data, func(d document) error {
			got = append(got, d)
			return nil
		})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		want, err := parseYAMLSequential("x.yaml", data)
		if err != nil {
			t.Fatalf("stream %d: sequential: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("stream %d: parseYAML and parseYAMLSequential differ:\n%s", i, firstDocDiff(got, want))
		}
	}
}

func firstDocDiff(got, want []document) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("document %d:\n got %#v\nwant %#v", i+1, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d documents, want %d", len(got), len(want))
}

// TestParseYAMLErrorsUnchanged checks that invalid YAML is still reported
// by yaml.v3, with its message and file line.
func TestParseYAMLErrorsUnchanged(t *testing.T) {
	data := []byte("kind: Namespace\napiVersion: v1\n---\nb: [1, 2\nc: 3\n")
	_, err := Parse("bad.yaml", data, "default")
	if err == nil {
		t.Fatal("Parse accepted invalid YAML")
	}
	var root yaml.Node
	yerr := yaml.Unmarshal([]byte("b: [1, 2\nc: 3\n"), &root)
	want := yamlError("bad.yaml", 2, 3, yerr).Error()
	if err.Error() != want {
		t.Errorf("Parse error %q, want %q", err, want)
	}
}

// BenchmarkParseMesh parses the mesh hack/genmesh writes by default:
// 10,000 Services, 30,000 objects, 11 MB.
func BenchmarkParseMesh(b *testing.B) {
	var buf bytes.Buffer
	if _, err := meshgen.Write(&buf, meshgen.Spec{Services: 10000, Namespaces: 100, ErrorEvery: 50}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Parse("mesh.yaml", data, "default"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseEachStopsAtFirstError checks that a stream decoded in batches
// reports an error past the first batch with its own document and line,
// after handing on the objects before it.
func TestParseEachStopsAtFirstError(t *testing.T) {
	good := "---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
	n := yamlBatch + 7
	data := []byte(strings.Repeat(good, n) + "---\nb: [1, 2\n" + good)
	seen := 0
	err := ParseEach("big.yaml", data, "default", func(*Object) error {
		seen++
		return nil
	})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v, want an *InputError", err)
	}
	// yaml.v3 reports the unclosed list on the line after it.
	if seen != n || ie.Document != n+1 || ie.Line != 4*n+3 {
		t.Errorf("handed on %d objects, error at document %d line %d (%v); want %d, %d, %d", seen, ie.Document, ie.Line, err, n, n+1, 4*n+3)
	}
	stop := errors.New("stop")
	seen = 0
	if err := ParseEach("big.yaml", []byte(strings.Repeat(good, n)), "default", func(*Object) error {
		seen++
		if seen == 3 {
			return stop
		}
		return nil
	}); err != stop || seen != 3 {
		t.Errorf("fn's error: got %v after %d objects, want it back after 3", err, seen)
	}
}
