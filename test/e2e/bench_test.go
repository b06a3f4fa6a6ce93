package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func needClusterB(b *testing.B) *cluster {
	b.Helper()
	if shared == nil {
		b.Skip("no control plane: run make bench")
	}
	return shared
}

func virtualService(ns, name string, subsets ...string) *unstructured.Unstructured {
	var route []any
	for i, s := range subsets {
		w := 100 / len(subsets)
		if i == 0 {
			w += 100 % len(subsets)
		}
		route = append(route, map[string]any{"destination": map[string]any{"host": "app", "subset": s}, "weight": int64(w)})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"hosts": []any{name}, "http": []any{map[string]any{"route": route}}},
	}}
}

// createLatencies creates n VirtualServices one after another and returns
// each create's latency, sorted.
func createLatencies(b *testing.B, c *cluster, ns, prefix string, n int) []time.Duration {
	b.Helper()
	ctx := context.Background()
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		vs := virtualService(ns, fmt.Sprintf("%s-%04d", prefix, i), "v1", "v2")
		t0 := time.Now()
		if _, err := c.dynamic.Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(t0))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func p(ds []time.Duration, q int) time.Duration { return ds[len(ds)*q/100] }

// BenchmarkAddedLatency creates VirtualServices through the real API
// server without and with mesh-webhook registered and reports the p50 and
// p99 each way and what the webhook adds.
func BenchmarkAddedLatency(b *testing.B) {
	c := needClusterB(b)
	ctx := context.Background()
	ns := "latency"
	if _, err := c.clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(8080)}}}}
	if _, err := c.clients.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	dr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": "app", "namespace": ns},
		"spec": map[string]any{"host": "app", "subsets": []any{
			map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}},
			map[string]any{"name": "v2", "labels": map[string]any{"version": "v2"}},
		}},
	}}
	if _, err := c.dynamic.Resource(drGVR).Namespace(ns).Create(ctx, dr, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	const n = 300
	for i := 0; i < b.N; i++ {
		without := createLatencies(b, c, ns, fmt.Sprintf("plain-%d", i), n)
		dir := b.TempDir()
		ca := servingCert(b, dir)
		p := c.startWebhook(b, dir)
		c.register(b, "mesh-webhook-latency", p.port, ca, admissionregistrationv1.Fail)
		with := createLatencies(b, c, ns, fmt.Sprintf("hooked-%d", i), n)
		b.ReportMetric(float64(pct(without, 50).Microseconds()), "p50-without-µs")
		b.ReportMetric(float64(pct(without, 99).Microseconds()), "p99-without-µs")
		b.ReportMetric(float64(pct(with, 50).Microseconds()), "p50-with-µs")
		b.ReportMetric(float64(pct(with, 99).Microseconds()), "p99-with-µs")
		b.ReportMetric(float64((pct(with, 99) - pct(without, 99)).Microseconds()), "p99-added-µs")
		p.stop()
		_ = c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "mesh-webhook-latency", metav1.DeleteOptions{})
	}
}

func pct(ds []time.Duration, q int) time.Duration { return p(ds, q) }

// BenchmarkWebhookRSS loads 10,000 Services, DestinationRules and
// VirtualServices into the API server and reports the resident memory of
// the mesh-webhook process holding them in its inventory.
func BenchmarkWebhookRSS(b *testing.B) {
	c := needClusterB(b)
	ctx := context.Background()
	const services, namespaces = 10000, 100
	for i := 0; i < namespaces; i++ {
		ns := fmt.Sprintf("rss-%03d", i)
		if _, err := c.clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < services; i += 8 {
				ns, name := fmt.Sprintf("rss-%03d", i%namespaces), fmt.Sprintf("svc-%05d", i)
				// Headless: the test API server's service IP range is small.
				svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
				if _, err := c.clients.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				dr := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
					"metadata": map[string]any{"name": name, "namespace": ns},
					"spec": map[string]any{"host": name, "subsets": []any{
						map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}},
						map[string]any{"name": "v2", "labels": map[string]any{"version": "v2"}},
					}},
				}}
				if _, err := c.dynamic.Resource(drGVR).Namespace(ns).Create(ctx, dr, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				vs := virtualService(ns, name, "v1", "v2")
				vs.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)["route"].([]any)[0].(map[string]any)["destination"].(map[string]any)["host"] = name
				vs.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)["route"].([]any)[1].(map[string]any)["destination"].(map[string]any)["host"] = name
				if _, err := c.dynamic.Resource(vsGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		servingCert(b, dir)
		p := c.startWebhook(b, dir)
		// Steady state: a few seconds after the caches synced.
		time.Sleep(5 * time.Second)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
				kb, _ := strconv.Atoi(f[1])
				b.ReportMetric(float64(kb)/1024, strings.TrimSuffix(f[0], ":")+"-MiB")
			}
		}
		p.stop()
	}
}
