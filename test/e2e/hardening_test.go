package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-mesh/kubectl-mesh/webhook"
)

// TestDeletesNeverWedge: against a real API server with the chart's
// configuration, deletes by the namespace controller and the garbage
// collector are skipped by matchConditions, deletes in a terminating
// namespace are admitted by mesh-webhook with a warning, and DELETE fails
// open when mesh-webhook is down while CREATE fails closed.
func TestDeletesNeverWedge(t *testing.T) {
	c := needCluster(t)
	for _, ns := range []string{"wedge", "ending"} {
		c.namespace(t, ns)
		if _, errOut, err := c.kubectlApply(t, fmt.Sprintf(baseline, ns)); err != nil {
			t.Fatalf("baseline in %s: %v\n%s", ns, err, errOut)
		}
	}
	p := withWebhook(t, c, admissionregistrationv1.Fail)
	del := func(as, ns, what string) (string, error) {
		args := []string{"delete", "-n", ns, what}
		if as != "" {
			args = append(args, "--as", as)
		}
		_, errOut, err := c.run(t, "", c.kubectl, args...)
		return errOut, err
	}
	if errOut, err := del("", "wedge", "destinationrule/reviews"); err == nil || !strings.Contains(errOut, "MESH0602") {
		t.Fatalf("a user's delete of a routed DestinationRule: %v\n%s", err, errOut)
	}
	for _, tc := range []struct{ user, object string }{
		{"system:serviceaccount:kube-system:namespace-controller", "destinationrule/reviews"},
		{"system:serviceaccount:kube-system:generic-garbage-collector", "gateway.networking.istio.io/shop-gateway"},
	} {
		t.Run("skipped at the API server for "+tc.user, func(t *testing.T) {
			errOut, err := del(tc.user, "wedge", tc.object)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			// mesh-webhook would have warned and logged: it was not called.
			if strings.Contains(errOut, "kubectl-mesh") || strings.Contains(p.log.String(), "deleted by "+tc.user) {
				t.Errorf("mesh-webhook was called for %s: stderr %q", tc.user, errOut)
			}
		})
	}
	t.Run("admitted with a warning in a terminating namespace", func(t *testing.T) {
		// Without a namespace controller the namespace stays Terminating.
		if err := c.clients.CoreV1().Namespaces().Delete(context.Background(), "ending", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		errOut, err := del("", "ending", "destinationrule/reviews")
		if err != nil || !strings.Contains(errOut, "namespace ending is terminating") {
			t.Fatalf("%v\n%s", err, errOut)
		}
		// The API server writes its audit log asynchronously.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			got := c.auditAnnotations(t, "ending", "reviews")["validate-delete.mesh.kubectl-mesh.io/cleanup"]
			if got == "namespace ending is terminating" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit annotation validate-delete.mesh.kubectl-mesh.io/cleanup %q", got)
			}
		}
	})
	t.Run("DELETE fails open, CREATE closed, with mesh-webhook down", func(t *testing.T) {
		if _, errOut, err := c.kubectlApply(t, fmt.Sprintf(baseline, "wedge")); err != nil {
			t.Fatalf("restoring the baseline: %v\n%s", err, errOut)
		}
		p.stop()
		if errOut, err := del("", "wedge", "destinationrule/reviews"); err != nil {
			t.Errorf("delete with the webhook down: %v\n%s", err, errOut)
		}
		_, errOut, err := c.kubectlApply(t, vsManifest("wedge", "new", "  http:\n  - route:\n    - destination: {host: reviews}\n"))
		if err == nil || !strings.Contains(errOut, "failed calling webhook") {
			t.Errorf("create with the webhook down: %v\n%s", err, errOut)
		}
	})
}

// TestFailurePolicySwitchesOnceServing registers the configuration as the
// chart installs it (CREATE/UPDATE with Ignore): mesh-webhook sets Fail
// once it serves, and leaves DELETE's Ignore.
func TestFailurePolicySwitchesOnceServing(t *testing.T) {
	c := needCluster(t)
	dir := t.TempDir()
	ca := servingCert(t, dir)
	const name = "mesh-webhook-switch"
	p := c.startWebhook(t, dir, "--webhook-config", name, "--failure-policy", "Fail")
	c.register(t, name, p.port, ca, admissionregistrationv1.Ignore)
	api := c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	deadline := time.Now().Add(30 * time.Second)
	for {
		vwc, err := api.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]admissionregistrationv1.FailurePolicyType{}
		for _, wh := range vwc.Webhooks {
			got[wh.Name] = *wh.FailurePolicy
		}
		if got[webhook.WebhookName] == admissionregistrationv1.Fail {
			if got[webhook.DeleteWebhookName] != admissionregistrationv1.Ignore {
				t.Errorf("DELETE's failure policy %s, want Ignore", got[webhook.DeleteWebhookName])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("failure policies %v 30 s after mesh-webhook served:\n%s", got, p.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// largeVirtualService is the object: routes naming missing hosts,
// about 95 bytes each (15,000 make 1.5 MB).
func largeVirtualService(ns, name string, routes int) *unstructured.Unstructured {
	http := make([]any, routes)
	for i := range http {
		http[i] = map[string]any{"name": fmt.Sprintf("r%05d", i), "route": []any{map[string]any{"destination": map[string]any{"host": fmt.Sprintf("missing-%05d.example.svc.cluster.local", i)}}}}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"hosts": []any{name}, "http": http},
	}}
}

// peakRSS reads a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// concurrentDryRuns sends n server-side dry-run creates of vs at once and
// returns each one's time and error.
func concurrentDryRuns(c *cluster, vs *unstructured.Unstructured, n int) ([]time.Duration, []error) {
	took, errs := make([]time.Duration, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj := vs.DeepCopy()
			obj.SetName(fmt.Sprintf("%s-%d", vs.GetName(), i))
			t0 := time.Now()
			_, errs[i] = c.dynamic.Resource(vsGVR).Namespace(vs.GetNamespace()).Create(context.Background(), obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			took[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	return took, errs
}

// requestDurations scrapes mesh-webhook's histogram of whole requests and
// returns how many there were and how many took at most le seconds.
func requestDurations(t testing.TB, metricsPort int, le string) (count, within int) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "mesh_webhook_request_duration_seconds_count "); ok {
			count, _ = strconv.Atoi(rest)
		}
		if rest, ok := strings.CutPrefix(line, `mesh_webhook_request_duration_seconds_bucket{le="`+le+`"} `); ok {
			within, _ = strconv.Atoi(rest)
		}
	}
	return count, within
}

// largeDryRuns is the case: four concurrent server side dry runs
// of a 1.5 MB VirtualService of 15,000 routes to missing hosts, with
// mesh-webhook run by its default flags. It returns the end-to-end times,
// the errors, how many of mesh-webhook's requests it answered within 3 s
// and within 0.5 s (of all, the readiness probe's included) and its peak
// RSS in MiB.
func largeDryRuns(t testing.TB, c *cluster, ns string) (took []time.Duration, errs []error, all, within3s, within500ms int, rss float64) {
	t.Helper()
	c.namespace(t, ns)
	dir := t.TempDir()
	ca := servingCert(t, dir)
	metricsPort := freePort(t)
	p := c.startWebhook(t, dir, "--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	c.register(t, "mesh-webhook-large", p.port, ca, admissionregistrationv1.Fail)
	took, errs = concurrentDryRuns(c, largeVirtualService(ns, "big", 15000), 4)
	all, within3s = requestDurations(t, metricsPort, "3")
	_, within500ms = requestDurations(t, metricsPort, "0.5")
	rss, err := peakRSS(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	return took, errs, all, within3s, within500ms, rss
}

// TestLargeObjectsAreBounded: each of the four dry runs gets
// mesh-webhook's refusal for its size (not the API server's "failed
// calling webhook" of a timeout), mesh-webhook's own histogram has every
// request answered within 3 s, and the process stays under 200 MiB. (The
// API server itself spends about 5 s on four such dry runs on 2 cores,
// with or without a webhook.)
func TestLargeObjectsAreBounded(t *testing.T) {
	c := needCluster(t)
	took, errs, all, within3s, fast, rss := largeDryRuns(t, c, "large")
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "kubectl-mesh reviews objects of up to") {
			t.Errorf("dry run %d: %v", i, err)
		}
	}
	if all < 4 || within3s != all {
		t.Errorf("%d of %d requests answered within 3 s", within3s, all)
	}
	t.Logf("dry runs took %v end to end; %d of %d webhook requests answered within 0.5 s; peak RSS %.0f MiB", took, fast, all, rss)
	if rss > 200 {
		t.Errorf("peak RSS %.0f MiB, want under 200", rss)
	}
}

// BenchmarkLargeDryRuns reports the case once per iteration, each
// with a fresh mesh-webhook process: its peak RSS, the share of its
// requests answered within 0.5 s, and the slowest dry run end to end
// (mostly the API server's own work).
func BenchmarkLargeDryRuns(b *testing.B) {
	c := needClusterB(b)
	for i := 0; i < b.N; i++ {
		took, errs, all, _, fast, rss := largeDryRuns(b, c, fmt.Sprintf("large-bench-%d", i))
		for _, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "kubectl-mesh reviews objects of up to") {
				b.Fatalf("dry run: %v", err)
			}
		}
		b.ReportMetric(rss, "peak-RSS-MiB")
		b.ReportMetric(float64(fast)/float64(all), "answered-within-0.5s")
		b.ReportMetric(slices.Max(took).Seconds(), "slowest-dry-run-s")
	}
}

// TestBusyAnswer: with one review slot and no queue wait to speak of,
// twenty concurrent dry runs overlap in mesh-webhook, and the ones that
// find the slot taken get its busy answer through the API server, not a
// failure to call the webhook.
func TestBusyAnswer(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "busy")
	dir := t.TempDir()
	ca := servingCert(t, dir)
	p := c.startWebhook(t, dir, "--max-concurrent-reviews", "1", "--queue-wait", "1ms")
	c.register(t, "mesh-webhook-busy", p.port, ca, admissionregistrationv1.Fail)
	_, errs := concurrentDryRuns(c, largeVirtualService("busy", "big", 200), 20)
	busy, plain := 0, 0
	for i, err := range errs {
		switch {
		case err != nil && strings.Contains(err.Error(), "mesh-webhook is busy"):
			busy++
		case err != nil && strings.Contains(err.Error(), "too many requests"):
			// Past three held bodies per slot (here three in all), a plain
			// 429 before the body is read: the API server words it itself.
			plain++
		case err != nil && strings.Contains(err.Error(), "MESH0201"):
		default:
			t.Errorf("dry run %d: %v", i, err)
		}
	}
	if busy == 0 {
		t.Error("no busy answer among 20 concurrent reviews with one slot")
	}
	t.Logf("%d of 20 busy, %d refused before their body was read", busy, plain)
}

// TestNoFalseDenialsUnderBurst creates 30 DestinationRule-then-
// VirtualService pairs at once: every VirtualService needs a live read,
// and live reads have their own client, so none falls back to the cache.
func TestNoFalseDenialsUnderBurst(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "burst30")
	withWebhook(t, c, admissionregistrationv1.Fail)
	if _, errOut, err := c.kubectlApply(t, "apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: burst30}\nspec:\n  ports: [{name: http, port: 80}]\n"); err != nil {
		t.Fatal(errOut)
	}
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			name := fmt.Sprintf("app-%02d", i)
			dr := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
				"metadata": map[string]any{"name": name, "namespace": "burst30"},
				"spec":     map[string]any{"host": "app", "subsets": []any{map[string]any{"name": "s" + fmt.Sprint(i), "labels": map[string]any{"version": "v" + fmt.Sprint(i)}}}},
			}}
			if _, errs[i] = c.dynamic.Resource(drGVR).Namespace("burst30").Create(ctx, dr, metav1.CreateOptions{}); errs[i] != nil {
				return
			}
			_, errs[i] = c.dynamic.Resource(vsGVR).Namespace("burst30").Create(ctx, virtualServiceTo(name, "s"+fmt.Sprint(i)), metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pair %d: %v", i, err)
		}
	}
}

func virtualServiceTo(name, subset string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": "burst30"},
		"spec": map[string]any{"hosts": []any{name}, "http": []any{map[string]any{"route": []any{
			map[string]any{"destination": map[string]any{"host": "app", "subset": subset}},
		}}}},
	}}
}

// auditAnnotations returns the audit annotations the API server logged
// for requests on objects named name in namespace.
func (c *cluster) auditAnnotations(t testing.TB, namespace, name string) map[string]string {
	t.Helper()
	f, err := os.Open(c.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var ev struct {
			ObjectRef *struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"objectRef"`
			Annotations map[string]string `json:"annotations"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.ObjectRef == nil || ev.ObjectRef.Namespace != namespace || ev.ObjectRef.Name != name {
			continue
		}
		for k, v := range ev.Annotations {
			out[k] = v
		}
	}
	return out
}

// TestOptOutIsAudited: against the real API server, an opt-out by the
// annotation lands in the audit log as validate.mesh.kubectl-mesh.io/opt-out;
// with --opt-out-annotation=labelled-namespaces it works only in a
// namespace carrying the label.
func TestOptOutIsAudited(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "optout")
	c.namespace(t, "optout-allowed")
	if _, errOut, err := c.run(t, "", c.kubectl, "label", "namespace", "optout-allowed", "team.example/break-glass=allowed"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	dir := t.TempDir()
	ca := servingCert(t, dir)
	p := c.startWebhook(t, dir, "--opt-out-annotation", "labelled-namespaces", "--opt-out-namespace-label", "team.example/break-glass=allowed")
	c.register(t, "mesh-webhook-optout", p.port, ca, admissionregistrationv1.Fail)
	glass := func(ns string) string {
		return strings.Replace(vsManifest(ns, "glass", "  http:\n  - route:\n    - destination: {host: nowhere}\n"),
			"namespace: "+ns+"}", "namespace: "+ns+", annotations: {kubectl-mesh.io/validation: disabled}}", 1)
	}
	if _, errOut, err := c.kubectlApply(t, glass("optout")); err == nil || !strings.Contains(errOut, "MESH0201") {
		t.Errorf("opt-out in a namespace without the label: %v\n%s", err, errOut)
	}
	if _, errOut, err := c.kubectlApply(t, glass("optout-allowed")); err != nil || !strings.Contains(errOut, "admitted create of VirtualService optout-allowed/glass unchecked") {
		t.Fatalf("opt-out in the labelled namespace: %v\n%s", err, errOut)
	}
	// The API server writes its audit log asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.auditAnnotations(t, "optout-allowed", "glass")["validate.mesh.kubectl-mesh.io/opt-out"]
		if strings.Contains(got, "disabled by the annotation kubectl-mesh.io/validation=disabled") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no opt-out audit annotation for optout-allowed/glass: %q", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(p.log.String(), "admitted unchecked") {
		t.Errorf("no log line for the opt-out:\n%s", p.log.String())
	}
}
