package policies

import "testing"

func BenchmarkScratchShape(b *testing.B) {
	data, _ := benchMesh(b, 100)
	objs, _ := benchInventory(b, data)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, o := range objs {
			if o.IsIstioNetworking() {
				ShapeOf(o)
			}
		}
	}
}
