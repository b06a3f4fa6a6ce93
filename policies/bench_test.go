package policies

import (
	"bytes"
	"context"
	"testing"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

// benchMesh generates a mesh once per benchmark.
func benchMesh(b *testing.B, services int) ([]byte, map[string]int) {
	b.Helper()
	var buf bytes.Buffer
	planted, err := meshgen.Write(&buf, meshgen.Spec{Services: services, Namespaces: 100, ErrorEvery: 50})
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), planted
}

func benchInventory(b *testing.B, data []byte) ([]*Object, *Index) {
	b.Helper()
	objs, err := Parse("mesh.yaml", data, "default")
	if err != nil {
		b.Fatal(err)
	}
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	return objs, idx
}

// BenchmarkReview is the cost of reviewing one object of a 10,000-Service
// inventory: facts, input and policy evaluation.
func BenchmarkReview(b *testing.B) {
	data, _ := benchMesh(b, 10000)
	objs, idx := benchInventory(b, data)
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{KindVirtualService, KindDestinationRule} {
		var obj *Object
		for _, o := range objs {
			if o.Kind() == kind {
				obj = o
				break
			}
		}
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			r := Review{Operation: OperationCreate, Object: obj}
			for i := 0; i < b.N; i++ {
				if _, err := e.Review(context.Background(), r, idx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidateMesh is the whole offline validation of a generated
// mesh in process: parse, index, review every object on all cores.
func BenchmarkValidateMesh(b *testing.B) {
	data, planted := benchMesh(b, 10000)
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		objs, idx := benchInventory(b, data)
		fs, err := e.ReviewAll(context.Background(), objs, idx, 0)
		if err != nil {
			b.Fatal(err)
		}
		found := map[string]int{}
		for _, f := range fs {
			found[f.Code]++
		}
		for code, n := range planted {
			if found[code] < n {
				b.Fatalf("found %d of %d planted %s", found[code], n, code)
			}
		}
	}
}
