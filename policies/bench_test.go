package policies

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

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

func benchInventory(b testing.TB, data []byte) ([]*Object, *Index) {
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
// With the decision cache, every review after the first is a hit.
func BenchmarkReview(b *testing.B) {
	data, _ := benchMesh(b, 10000)
	objs, idx := benchInventory(b, data)
	for _, kind := range []string{KindVirtualService, KindDestinationRule} {
		var obj *Object
		for _, o := range objs {
			if o.Kind() == kind {
				obj = o
				break
			}
		}
		for _, mode := range benchModes {
			e := benchEngine(b, mode.opts, mode.forget)
			b.Run(kind+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				r := Review{Operation: OperationCreate, Object: obj}
				defer reportCPU(b)()
				for i := 0; i < b.N; i++ {
					if _, err := e.Review(context.Background(), r, idx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchModes are the engines the benchmarks compare: with the decision
// cache, without it, and with a cache that keeps nothing, so that every
// review misses as if every object were distinct (the adaptive keying's
// worst case).
var benchModes = []struct {
	name   string
	opts   Options
	forget bool
}{
	{"cached", Options{}, false},
	{"uncached", Options{NoDecisionCache: true}, false},
	{"distinct", Options{}, true},
}

func benchEngine(b *testing.B, opts Options, forget bool) *Engine {
	b.Helper()
	e, err := NewEngine(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	if forget {
		e.cache.forget = true
	}
	return e
}

// BenchmarkValidateMesh is the whole offline validation of a generated
// mesh in process, as `kubectl mesh validate` does it: parse into the
// index, compacting the objects under review, then review them on all
// cores.
func BenchmarkValidateMesh(b *testing.B) {
	data, planted := benchMesh(b, 10000)
	benchValidate(b, data, planted)
}

// BenchmarkValidateFleet is BenchmarkValidateMesh on a realistic fleet of
// 10,000 Services (hack/genmesh -mode realistic): varied shapes, exportTo,
// DestinationRules in three kinds of namespace, gateways and ServiceEntries.
func BenchmarkValidateFleet(b *testing.B) {
	var buf bytes.Buffer
	planted, err := meshgen.WriteFleet(&buf, meshgen.Fleet{Seed: 1, Services: 10000, PlantRate: 0.02})
	if err != nil {
		b.Fatal(err)
	}
	// A planted DestinationRule slip shows up on the VirtualServices it
	// breaks, at least one each.
	benchValidate(b, buf.Bytes(), planted)
}

func benchValidate(b *testing.B, data []byte, planted map[string]int) {
	for _, mode := range benchModes {
		b.Run(mode.name, func(b *testing.B) { benchValidateWith(b, mode.opts, mode.forget, data, planted) })
	}
}

func benchValidateWith(b *testing.B, opts Options, forget bool, data []byte, planted map[string]int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	defer reportCPU(b)()
	var stats CacheStats
	reviewed := 0
	for i := 0; i < b.N; i++ {
		// A new engine each time: its decision cache starts empty, as in a
		// run of kubectl mesh validate.
		e := benchEngine(b, opts, forget)
		idx := NewIndex("")
		var objs []*Object
		err := ParseEach("mesh.yaml", data, "default", func(o *Object) error {
			idx.Add(o)
			if o.IsIstioNetworking() {
				o.Compact()
				objs = append(objs, o)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
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
		stats, reviewed = e.CacheStats(), len(objs)
	}
	if stats.Lookups > 0 {
		// Decisions (one per package and key) per 10,000 objects reviewed.
		b.ReportMetric(float64(stats.Keys)*10000/float64(reviewed), "keys/10k-objects")
		b.ReportMetric(float64(stats.Hits)/float64(stats.Lookups), "hit-rate")
	}
}

// reportCPU adds the CPU time of the process per operation (cpu-ns/op) to
// a benchmark's figures: on a machine shared with other work it varies far
// less than ns/op, which counts the time spent waiting for a core too. Call
// it after the setup and defer the function it returns.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		b.ReportMetric(float64((processCPU()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUnresolvedHosts reviews one VirtualService whose routes each
// name a host that does not exist, the worst case of the host checks: its
// cost must grow with the object's size, not with its square.
func BenchmarkUnresolvedHosts(b *testing.B) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	data, _ := benchMesh(b, 1000)
	_, idx := benchInventory(b, data)
	for _, routes := range []int{1000, 4000, 15000} {
		b.Run(fmt.Sprintf("routes=%d", routes), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: big, namespace: team-000}\nspec:\n  hosts: [big]\n  http:\n")
			for i := 0; i < routes; i++ {
				fmt.Fprintf(&sb, "  - route:\n    - destination: {host: missing-%d}\n", i)
			}
			objs, err := Parse("big.yaml", []byte(sb.String()), "default")
			if err != nil {
				b.Fatal(err)
			}
			r := Review{Operation: OperationCreate, Object: objs[0]}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fs, err := e.Review(context.Background(), r, idx)
				if err != nil {
					b.Fatal(err)
				}
				if len(fs) < routes {
					b.Fatalf("%d findings for %d missing hosts", len(fs), routes)
				}
			}
		})
	}
}

// BenchmarkLoadFloor is the part of an offline validation that comes
// before any review, on both benchmark meshes: decoding the documents
// alone, then decoding them into the index as planChange does (objects
// under review compacted). Whatever the reviews cost, a validation
// takes at least this, plus the start of the process; docs/BENCHMARKS.md
// holds it against the targets. The collector runs at validate's
// setting.
func BenchmarkLoadFloor(b *testing.B) {
	template, _ := benchMesh(b, 10000)
	var fleet bytes.Buffer
	if _, err := meshgen.WriteFleet(&fleet, meshgen.Fleet{Seed: 1, Services: 10000, PlantRate: 0.02}); err != nil {
		b.Fatal(err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(75))
	for _, mesh := range []struct {
		name string
		data []byte
	}{{"template", template}, {"fleet", fleet.Bytes()}} {
		for _, phase := range []string{"decode", "index"} {
			b.Run(mesh.name+"/"+phase, func(b *testing.B) {
				b.SetBytes(int64(len(mesh.data)))
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					idx := NewIndex("")
					err := ParseEach("mesh.yaml", mesh.data, "default", func(o *Object) error {
						if phase == "index" {
							idx.Add(o)
							o.Compact()
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
