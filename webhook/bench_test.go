package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

// meshHandler is a handler over an inventory of 10,000 Services with a
// DestinationRule and a VirtualService each.
func meshHandler(b testing.TB) *Handler {
	return meshHandlerWith(b, policies.Options{DecisionCacheSize: DefaultDecisionCacheSize})
}

func meshHandlerWith(b testing.TB, opts policies.Options) *Handler {
	b.Helper()
	var buf bytes.Buffer
	if _, err := meshgen.Write(&buf, meshgen.Spec{Services: 10000, Namespaces: 100}); err != nil {
		b.Fatal(err)
	}
	objs, err := policies.Parse("mesh.yaml", buf.Bytes(), "default")
	if err != nil {
		b.Fatal(err)
	}
	idx := policies.NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	e, err := policies.NewEngine(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	return &Handler{Engine: e, Inventory: idx}
}

const benchVS = `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"svc-00042","namespace":"team-042"},` +
	`"spec":{"hosts":["svc-00042"],"http":[{"route":[` +
	`{"destination":{"host":"svc-00042","subset":"v1","port":{"number":8080}},"weight":90},` +
	`{"destination":{"host":"svc-00042","subset":"v2","port":{"number":8080}},"weight":10}]}]}}`

// BenchmarkHandler measures AdmissionReview bytes in, response bytes out,
// on all cores, and reports the p99 latency of one review: with the
// decision cache, as mesh-webhook runs (the same shape over and over, so
// hits), and without it.
func BenchmarkHandler(b *testing.B) {
	for _, c := range []struct {
		name string
		opts policies.Options
	}{
		{"cached", policies.Options{DecisionCacheSize: DefaultDecisionCacheSize}},
		{"uncached", policies.Options{NoDecisionCache: true}},
	} {
		b.Run(c.name, func(b *testing.B) { benchHandler(b, meshHandlerWith(b, c.opts)) })
	}
}

func benchHandler(b *testing.B, h *Handler) {
	body := reviewBytes(admissionv1.Update, "VirtualService", benchVS, benchVS)
	if _, status := h.HandleBytes(context.Background(), body); status != http.StatusOK {
		b.Fatal(status)
	}
	var mu sync.Mutex
	var latencies []time.Duration
	// As mesh-webhook runs it.
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if _, status := h.HandleBytes(context.Background(), body); status != http.StatusOK {
				b.Error(status)
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		b.ReportMetric(float64(latencies[n*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "reviews/s")
	}
}

// BenchmarkInventoryMemory reports the heap an inventory of 10,000
// Services, DestinationRules and VirtualServices holds.
func BenchmarkInventoryMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h := meshHandler(b)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heap-MiB")
		runtime.KeepAlive(h)
	}
}

// Bounds of one fuzz input (at most 64 KiB): the handler must not spend
// more, whatever the bytes. Time is generous for a loaded machine; the
// review's own deadline is well below it.
const (
	fuzzTimeLimit   = 2 * time.Second
	fuzzReviewLimit = time.Second
	fuzzAllocLimit  = 64 << 20
)

// FuzzHandler sends arbitrary bytes, and arbitrary objects inside a valid
// AdmissionReview, to the handler: no panics, every answer is either a
// response for the request's UID or a 400 saying why, and each input
// stays within fuzzTimeLimit and allocates at most fuzzAllocLimit.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(reviewBytes(admissionv1.Create, "VirtualService", benchVS, "")), []byte(benchVS))
	f.Add([]byte("{"), []byte(`{"kind":"VirtualService","apiVersion":"networking.istio.io/v1","spec":{"http":7}}`))
	f.Add([]byte(`{"request":{"uid":"x","operation":"DELETE","oldObject":{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"g"}}}}`), []byte("null"))
	h, _ := newTestHandler(f)
	h.MaxRequestBytes = 1 << 16
	f.Fuzz(func(t *testing.T, raw, object []byte) {
		for _, body := range [][]byte{raw, reviewBytes(admissionv1.Create, "VirtualService", string(object), "")} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), fuzzReviewLimit)
			out, status := h.HandleBytes(ctx, body)
			cancel()
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if status != http.StatusOK && status != http.StatusBadRequest {
				t.Fatalf("status %d", status)
			}
			if len(out) == 0 {
				t.Fatal("empty answer")
			}
			if took > fuzzTimeLimit {
				t.Fatalf("%d bytes took %v, more than %v", len(body), took, fuzzTimeLimit)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzAllocLimit {
				t.Fatalf("%d bytes allocated %d MiB, more than %d", len(body), alloc>>20, fuzzAllocLimit>>20)
			}
		}
	})
}

// BenchmarkHandlerAfterIdle is BenchmarkHandler one review at a time,
// each after the process was idle for a while, as reviews arrive from an
// API server that is not busy: it reports the median of the reviews'
// own time, without the idle gaps. On a virtual machine a core that idles
// wakes slowly and with cold caches, and a review costs several times
// what it costs back to back.
func BenchmarkHandlerAfterIdle(b *testing.B) {
	h := meshHandler(b)
	body := reviewBytes(admissionv1.Update, "VirtualService", benchVS, benchVS)
	for _, gap := range []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 5 * time.Millisecond} {
		b.Run("gap="+gap.String(), func(b *testing.B) {
			latencies := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				if gap > 0 {
					time.Sleep(gap)
				}
				t0 := time.Now()
				if _, status := h.HandleBytes(context.Background(), body); status != http.StatusOK {
					b.Fatal(status)
				}
				latencies = append(latencies, time.Since(t0))
			}
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
		})
	}
}

// largeVS is the VirtualService: routes naming missing hosts,
// about 95 bytes each (15,000 make 1.5 MB).
func largeVS(routes int) string {
	var b strings.Builder
	b.WriteString(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"big","namespace":"team-042"},"spec":{"hosts":["big"],"http":[`)
	for i := range routes {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"r%05d","route":[{"destination":{"host":"missing-%05d.example.svc.cluster.local"}}]}`, i, i)
	}
	b.WriteString(`]}}`)
	return b.String()
}

// BenchmarkBoundedCost measures the answers that bound a review's cost,
// on the 10,000-Service inventory: refusing the 1.5 MB
// VirtualService for its size, and the busy answer to it when no slot is
// free.
func BenchmarkBoundedCost(b *testing.B) {
	h := meshHandler(b)
	body := reviewBytes(admissionv1.Create, "VirtualService", largeVS(15000), "")
	b.Run("refused-for-size", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if out, status := h.HandleBytes(context.Background(), body); status != http.StatusOK || !bytes.Contains(out, []byte("reviews objects of up to")) {
				b.Fatalf("%d %.200s", status, out)
			}
		}
	})
	b.Run("busy", func(b *testing.B) {
		busy := &Handler{Engine: h.Engine, Inventory: h.Inventory, MaxConcurrent: 1, QueueWait: time.Nanosecond}
		busy.acquire(context.Background())
		defer busy.release()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if out, status := busy.HandleBytes(context.Background(), body); status != http.StatusOK || !bytes.Contains(out, []byte("mesh-webhook is busy")) {
				b.Fatalf("%d %.200s", status, out)
			}
		}
	})
}
