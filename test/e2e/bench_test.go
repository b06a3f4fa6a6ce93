package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-mesh/kubectl-mesh/test/harness"
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

// createLatency creates one VirtualService and returns how long the
// create took.
func createLatency(b *testing.B, c *cluster, ns, name string) time.Duration {
	b.Helper()
	vs := virtualService(ns, name, "v1", "v2")
	t0 := time.Now()
	if _, err := c.dynamic.Resource(vsGVR).Namespace(ns).Create(context.Background(), vs, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// percentile returns the q-th percentile of sorted durations.
func percentile(sorted []time.Duration, q int) time.Duration { return sorted[len(sorted)*q/100] }

// BenchmarkAddedLatency creates VirtualServices through the real API
// server with a webhook registered, alternately in a namespace it
// intercepts and in one opted out (kubectl-mesh.io/validation: disabled),
// and reports the p50 and p99 each way and what the webhook adds. Taking
// turns, both sides see the same state of the machine: measured one side
// after the other, the drift of a shared machine was as large as the
// difference. It measures mesh-webhook, then a webhook that allows
// everything at once (the "noop" figures): what any webhook costs through
// this API server on this machine.
func BenchmarkAddedLatency(b *testing.B) {
	c := needClusterB(b)
	ctx := context.Background()
	const hooked, plain = "latency", "latency-opted-out"
	for _, ns := range []string{hooked, plain} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == plain {
			obj.Labels = map[string]string{"kubectl-mesh.io/validation": "disabled"}
		}
		if _, err := c.clients.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
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
	}
	const n = 2000
	// measure creates n pairs with a webhook registered, then removes it.
	measure := func(label string) {
		without := make([]time.Duration, 0, n)
		with := make([]time.Duration, 0, n)
		for j := 0; j < n; j++ {
			name := fmt.Sprintf("%s-%04d", label, j)
			without = append(without, createLatency(b, c, plain, name))
			with = append(with, createLatency(b, c, hooked, name))
		}
		_ = c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "mesh-webhook-latency", metav1.DeleteOptions{})
		slices.Sort(without)
		slices.Sort(with)
		suffix := ""
		if label != "mesh" {
			suffix = "-" + label
		}
		b.ReportMetric(float64(percentile(without, 50).Microseconds()), "p50-without"+suffix+"-µs")
		b.ReportMetric(float64(percentile(without, 99).Microseconds()), "p99-without"+suffix+"-µs")
		b.ReportMetric(float64(percentile(with, 50).Microseconds()), "p50-with"+suffix+"-µs")
		b.ReportMetric(float64(percentile(with, 99).Microseconds()), "p99-with"+suffix+"-µs")
		b.ReportMetric(float64((percentile(with, 99) - percentile(without, 99)).Microseconds()), "p99-added"+suffix+"-µs")
	}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		ca := servingCert(b, dir)
		wh := c.startWebhook(b, dir)
		c.register(b, "mesh-webhook-latency", wh.port, ca, admissionregistrationv1.Fail)
		measure("mesh")
		wh.stop()

		noop, port, calls := allowEverything(b, dir)
		vwc, err := harness.WebhookConfiguration("mesh-webhook-latency", fmt.Sprintf("https://127.0.0.1:%d/validate", port), ca, admissionregistrationv1.Fail)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		// Registered once a server-side dry run reaches it.
		for deadline := time.Now().Add(30 * time.Second); calls.Load() == 0; {
			if time.Now().After(deadline) {
				b.Fatal("the API server does not call the no-op webhook")
			}
			probe := virtualService(hooked, "probe", "v1")
			_, _ = c.dynamic.Resource(vsGVR).Namespace(hooked).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			time.Sleep(100 * time.Millisecond)
		}
		measure("noop")
		noop.Close()
	}
}

// allowEverything serves, over TLS with the certificate in certDir, a
// webhook that allows every request without looking at it, and counts
// the requests.
func allowEverything(b *testing.B, certDir string) (*http.Server, int, *atomic.Int64) {
	b.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	calls := &atomic.Int64{}
	srv := &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			var review admissionv1.AdmissionReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
				http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
				return
			}
			review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
			review.Request = nil
			_ = json.NewEncoder(w).Encode(review)
		}),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return srv, ln.Addr().(*net.TCPAddr).Port, calls
}

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
