package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
)

// fakeNamespaces is a Namespaces with a cache and a live view that may differ.
type fakeNamespaces struct {
	cached, live map[string]NamespaceInfo
	liveReads    int
}

func (f *fakeNamespaces) Cached(name string) (NamespaceInfo, bool) {
	ns, ok := f.cached[name]
	return ns, ok
}

func (f *fakeNamespaces) Live(_ context.Context, name string) (NamespaceInfo, error) {
	f.liveReads++
	ns, ok := f.live[name]
	if !ok {
		return NamespaceInfo{}, fmt.Errorf("namespace %s not found", name)
	}
	return ns, nil
}

const routedDR = `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}}`

// reviewAs is reviewBytes sent by user.
func reviewAs(user string, op admissionv1.Operation, kind, object, old string) []byte {
	return withUser(reviewBytes(op, kind, object, old), user)
}

func withUser(body []byte, user string) []byte {
	return []byte(strings.Replace(string(body), `"request":{`, `"request":{"userInfo":{"username":"`+user+`"},`, 1))
}

// TestDeletesNeverWedge: deletes by the clean-up controllers and deletes
// in a terminating namespace are admitted with a warning and an audit
// annotation, even of a DestinationRule still routed to.
func TestDeletesNeverWedge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		user      string
		cached    NamespaceInfo
		live      NamespaceInfo
		allowed   bool
		warning   string
		liveReads int
	}{
		{"a user's delete of a routed DestinationRule is denied", "alice", NamespaceInfo{}, NamespaceInfo{}, false, "", 1},
		{"the namespace controller", "system:serviceaccount:kube-system:namespace-controller", NamespaceInfo{}, NamespaceInfo{}, true, "deleted by system:serviceaccount:kube-system:namespace-controller", 0},
		{"the garbage collector", "system:serviceaccount:kube-system:generic-garbage-collector", NamespaceInfo{}, NamespaceInfo{}, true, "deleted by system:serviceaccount:kube-system:generic-garbage-collector", 0},
		{"kube-controller-manager without service account credentials", "system:kube-controller-manager", NamespaceInfo{}, NamespaceInfo{}, true, "deleted by system:kube-controller-manager", 0},
		{"a terminating namespace in the cache", "alice", NamespaceInfo{Terminating: true}, NamespaceInfo{Terminating: true}, true, "namespace default is terminating", 0},
		{"a terminating namespace the cache has not seen yet", "alice", NamespaceInfo{}, NamespaceInfo{Terminating: true}, true, "namespace default is terminating", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t)
			ns := &fakeNamespaces{cached: map[string]NamespaceInfo{"default": tc.cached}, live: map[string]NamespaceInfo{"default": tc.live}}
			h.Namespaces = ns
			resp := decide(t, h, reviewAs(tc.user, admissionv1.Delete, "DestinationRule", "", routedDR))
			if resp.Allowed != tc.allowed || ns.liveReads != tc.liveReads {
				t.Fatalf("allowed %v after %d live namespace reads, want %v after %d: %+v", resp.Allowed, ns.liveReads, tc.allowed, tc.liveReads, resp.Result)
			}
			if !tc.allowed {
				if !strings.Contains(resp.Result.Message, "MESH0602") {
					t.Errorf("message %q", resp.Result.Message)
				}
				return
			}
			if !strings.Contains(strings.Join(resp.Warnings, "\n"), tc.warning) || resp.AuditAnnotations["cleanup"] == "" {
				t.Errorf("warnings %v, audit annotations %v: want %q and a cleanup annotation", resp.Warnings, resp.AuditAnnotations, tc.warning)
			}
		})
	}
	t.Run("creates by the namespace controller are still checked", func(t *testing.T) {
		h, _ := newTestHandler(t)
		resp := decide(t, h, reviewAs("system:serviceaccount:kube-system:namespace-controller", admissionv1.Create, "VirtualService", vsJSON("c", dest("v9", 100)), ""))
		if resp.Allowed {
			t.Error("admitted")
		}
	})
}

// TestOptOutIsRestrictedAndAudited covers the annotation's modes and the
// namespace label, each bypass with an audit annotation.
func TestOptOutIsRestrictedAndAudited(t *testing.T) {
	annotated := strings.Replace(vsJSON("canary", dest("v9", 100)), `"namespace":"default"`, `"namespace":"default","annotations":{"kubectl-mesh.io/validation":"disabled"}`, 1)
	plain := vsJSON("canary", dest("v9", 100))
	for _, tc := range []struct {
		name    string
		optOut  OptOut
		labels  map[string]string
		object  string
		allowed bool
	}{
		{"annotation, allowed everywhere", OptOut{}, nil, annotated, true},
		{"annotation, off", OptOut{Mode: OptOutOff}, nil, annotated, false},
		{"annotation, namespace not labelled", OptOut{Mode: OptOutLabelled, NamespaceLabel: "team/break-glass=allowed"}, map[string]string{"team/break-glass": "no"}, annotated, false},
		{"annotation, namespace labelled", OptOut{Mode: OptOutLabelled, NamespaceLabel: "team/break-glass=allowed"}, map[string]string{"team/break-glass": "allowed"}, annotated, true},
		{"annotation, label key alone", OptOut{Mode: OptOutLabelled, NamespaceLabel: "team/break-glass"}, map[string]string{"team/break-glass": ""}, annotated, true},
		{"namespace label, even with the annotation off", OptOut{Mode: OptOutOff}, map[string]string{BreakGlassAnnotation: breakGlassValue}, plain, true},
		{"no opt-out", OptOut{}, nil, plain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t)
			h.OptOut = tc.optOut
			h.Namespaces = &fakeNamespaces{cached: map[string]NamespaceInfo{"default": {Labels: tc.labels}}}
			resp := decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", tc.object, ""))
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.allowed && resp.AuditAnnotations["opt-out"] == "" {
				t.Errorf("no opt-out audit annotation: %v", resp.AuditAnnotations)
			}
		})
	}
}

// TestBusy: with every slot taken, CREATE is refused with 429 and a clear
// message after QueueWait, DELETE admitted, and CREATE admitted when the
// failure policy is Ignore.
func TestBusy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		op         admissionv1.Operation
		busyAdmits bool
		allowed    bool
	}{
		{"create is refused", admissionv1.Create, false, false},
		{"delete is admitted", admissionv1.Delete, false, true},
		{"create is admitted under failurePolicy Ignore", admissionv1.Create, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t)
			h.MaxConcurrent, h.QueueWait, h.BusyAdmits = 1, 50*time.Millisecond, tc.busyAdmits
			if !h.acquire(context.Background()) {
				t.Fatal("no slot free")
			}
			defer h.release()
			body := reviewBytes(tc.op, "VirtualService", vsJSON("c", dest("v1", 100)), "")
			if tc.op == admissionv1.Delete {
				body = reviewBytes(tc.op, "VirtualService", "", vsJSON("c", dest("v1", 100)))
			}
			start := time.Now()
			resp := decide(t, h, body)
			if waited := time.Since(start); waited < 50*time.Millisecond || waited > time.Second {
				t.Errorf("answered after %v, want about the 50ms queue wait", waited)
			}
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v", resp.Allowed, tc.allowed)
			}
			text := strings.Join(resp.Warnings, "")
			if !tc.allowed {
				text = resp.Result.Message
				if resp.Result.Code != http.StatusTooManyRequests {
					t.Errorf("code %d, want 429", resp.Result.Code)
				}
			}
			if !strings.Contains(text, "mesh-webhook is busy") {
				t.Errorf("answer %q lacks the busy message", text)
			}
		})
	}
	t.Run("requests beyond three per slot get a plain 429", func(t *testing.T) {
		h, _ := newTestHandler(t)
		h.MaxConcurrent = 1
		h.slots()
		for range cap(h.open) {
			h.open <- struct{}{}
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		resp, err := http.Post(srv.URL+Path, "application/json", bytes.NewReader(reviewBytes(admissionv1.Create, "VirtualService", vsJSON("c", dest("v1", 100)), "")))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "mesh-webhook is busy: 3 requests in progress") {
			t.Errorf("status %d: %s", resp.StatusCode, b)
		}
	})
	t.Run("a slot coming free within the wait is used", func(t *testing.T) {
		h, _ := newTestHandler(t)
		h.MaxConcurrent, h.QueueWait = 1, 2*time.Second
		h.acquire(context.Background())
		go func() { time.Sleep(50 * time.Millisecond); h.release() }()
		if resp := decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", vsJSON("c", dest("v1", 100)), "")); !resp.Allowed {
			t.Errorf("refused: %+v", resp.Result)
		}
	})
}

// TestObjectSizeAndFindingsCaps: objects beyond MaxObjectBytes are refused
// on CREATE with 413 (deletes go through), and denials list at most
// MaxFindings findings and say how many more there are.
func TestObjectSizeAndFindingsCaps(t *testing.T) {
	h, _ := newTestHandler(t)
	h.MaxObjectBytes = 300
	big := vsJSON("big", dest("v1", 50), dest("v2", 50), dest("v1", 0))
	resp := decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", big, ""))
	if resp.Allowed || resp.Result.Code != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Result.Message, "objects of up to 300 bytes") {
		t.Errorf("oversized create: %+v", resp.Result)
	}
	if resp := decide(t, h, reviewBytes(admissionv1.Delete, "VirtualService", "", big)); !resp.Allowed {
		t.Errorf("oversized delete refused: %+v", resp.Result)
	}
	optedOut := strings.Replace(big, `"namespace":"default"`, `"namespace":"default","annotations":{"kubectl-mesh.io/validation":"disabled"}`, 1)
	if resp := decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", optedOut, "")); !resp.Allowed || resp.AuditAnnotations["opt-out"] == "" {
		t.Errorf("oversized object opted out: %+v, audit %v", resp.Result, resp.AuditAnnotations)
	}
	h.OptOut = OptOut{Mode: OptOutOff}
	if resp := decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", optedOut, "")); resp.Allowed || resp.Result.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized object opted out with the annotation off: %+v", resp.Result)
	}
	configMap := strings.Replace(big, `"apiVersion":"networking.istio.io/v1","kind":"VirtualService"`, `"apiVersion":"v1","kind":"ConfigMap"`, 1)
	if resp := decide(t, h, reviewBytes(admissionv1.Create, "ConfigMap", configMap, "")); !resp.Allowed {
		t.Errorf("a large object of a kind it does not check: %+v", resp.Result)
	}

	h, _ = newTestHandler(t)
	h.MaxFindings = 5
	var routes []string
	for i := range 20 {
		routes = append(routes, fmt.Sprintf(`{"route":[{"destination":{"host":"missing-%d"}}]}`, i))
	}
	many := `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"many","namespace":"default"},"spec":{"hosts":["many"],"http":[` + strings.Join(routes, ",") + `]}}`
	resp = decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", many, ""))
	lines := strings.Split(resp.Result.Message, "\n")
	if resp.Allowed || len(lines) != 6 || !strings.HasPrefix(lines[5], "... and 15 more findings (15 errors) not shown") {
		t.Errorf("allowed %v, message of %d lines:\n%s", resp.Allowed, len(lines), resp.Result.Message)
	}
}

// TestMetricsLabelsAreBounded posts made-up kinds, operations and
// categories: the series stay the known ones.
func TestMetricsLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newTestHandler(t)
	h.Metrics = m
	for i := range 2000 {
		body := reviewBytes(admissionv1.Operation(fmt.Sprintf("OP%d", i)), fmt.Sprintf("Kind%d", i),
			fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"Kind%d","metadata":{"name":"x"}}`, i), "")
		h.HandleBytes(context.Background(), body)
	}
	h.HandleBytes(context.Background(), reviewBytes(admissionv1.Create, "VirtualService", vsJSON("c", dest("v9", 100)), ""))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, f := range families {
		series += len(f.GetMetric())
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if strings.HasPrefix(l.GetValue(), "Kind") || strings.HasPrefix(l.GetValue(), "OP") {
					t.Errorf("%s has the label %s=%s from the request", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	if series > 10 {
		t.Errorf("%d series after 2,000 made-up kinds", series)
	}
}

func TestSoftMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		limit, percent string
		want           int64
		err            bool
	}{
		{"", "", 0, false},
		{"268435456", "", 268435456 / 100 * 85, false},
		{"268435456", "50", 268435456 / 100 * 50, false},
		{"256Mi", "", 0, true},
		{"268435456", "150", 0, true},
	} {
		got, err := SoftMemoryLimit(tc.limit, tc.percent)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("SoftMemoryLimit(%q, %q) = %d, %v; want %d (error %v)", tc.limit, tc.percent, got, err, tc.want, tc.err)
		}
	}
}
