package policies

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestProfMesh(t *testing.T) {
	data, err := os.ReadFile("/tmp/mesh.yaml")
	if err != nil {
		t.Skip()
	}
	t0 := time.Now()
	objs, err := Parse("mesh.yaml", data, "default")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	e, _ := NewEngine(context.Background(), Options{})
	t2 := time.Now()
	idx := NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	t3 := time.Now()
	fs, err := e.ReviewAll(context.Background(), objs, idx, 0)
	t4 := time.Now()
	t.Logf("parse %v compile %v index %v eval %v findings %d", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), len(fs))
}
