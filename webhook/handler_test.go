package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

const inventoryYAML = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
`

// routeJSON is an HTTPRoute of namespace default bound to no parent,
// routing to the backendRefs given as JSON.
func routeJSON(backendRefs string) string {
	return `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"reviews","namespace":"default"},` +
		`"spec":{"rules":[{"backendRefs":` + backendRefs + `}]}}`
}

func newTestHandler(t testing.TB) (*Handler, *policies.Index) {
	t.Helper()
	e, err := policies.NewEngine(context.Background(), policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := policies.Parse("inventory.yaml", []byte(inventoryYAML), "default")
	if err != nil {
		t.Fatal(err)
	}
	idx := policies.NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	return &Handler{Engine: e, Inventory: idx}, idx
}

func vsJSON(name string, dests ...string) string {
	return `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"` + name + `","namespace":"default"},` +
		`"spec":{"hosts":["reviews"],"http":[{"route":[` + strings.Join(dests, ",") + `]}]}}`
}

func dest(subset string, weight int) string {
	b, _ := json.Marshal(map[string]any{"destination": map[string]any{"host": "reviews", "subset": subset}, "weight": weight})
	return string(b)
}

func reviewBytes(op admissionv1.Operation, kind, object, old string) []byte {
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("uid-1"),
		Kind:      metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: kind},
		Namespace: "default",
		Operation: op,
	}
	if object != "" {
		req.Object = runtime.RawExtension{Raw: []byte(object)}
	}
	if old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	b, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	return b
}

func decide(t *testing.T, h *Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	out, status := h.HandleBytes(context.Background(), body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, out)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil || review.Response == nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if review.Response.UID != "uid-1" || review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		t.Fatalf("response envelope: %+v", review)
	}
	return review.Response
}

func TestHandlerDecisions(t *testing.T) {
	h, _ := newTestHandler(t)
	dr := `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}}`
	drV1 := `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}}]}}`
	cases := []struct {
		name     string
		body     []byte
		allowed  bool
		message  []string
		warnings []string
	}{
		{"good canary", reviewBytes(admissionv1.Create, "VirtualService", vsJSON("canary", dest("v1", 90), dest("v2", 10)), ""), true, nil, nil},
		{"weights 90/20 and an undefined subset, one line each", reviewBytes(admissionv1.Create, "VirtualService", vsJSON("canary", dest("v1", 90), dest("v3", 20)), ""), false,
			[]string{"Error [MESH0104] VirtualService default/canary spec.http[0].route: the weights of the 2 destinations add up to 110, not 100 (90/20)",
				"\nError [MESH0301] VirtualService default/canary spec.http[0].route[1].destination.subset: subset \"v3\""}, nil},
		{"warnings go back as admission warnings", reviewBytes(admissionv1.Create, "VirtualService", vsJSON("one", dest("v1", 50)), ""), true, nil,
			[]string{"Warning [MESH0105] VirtualService default/one"}},
		{"update is checked too", reviewBytes(admissionv1.Update, "VirtualService", vsJSON("reviews", dest("v1", 90), dest("v9", 10)), vsJSON("reviews", dest("v1", 100))), false,
			[]string{`subset "v9"`}, nil},
		{"update of a DestinationRule dropping a routed subset", reviewBytes(admissionv1.Update, "DestinationRule", drV1, dr), false,
			[]string{"Error [MESH0601]", `subset "v2" is removed, but VirtualService default/reviews`}, nil},
		{"delete of a routed DestinationRule", reviewBytes(admissionv1.Delete, "DestinationRule", "", dr), false,
			[]string{"Error [MESH0602]", "remove those routes first"}, nil},
		{"break-glass annotation admits with a warning", reviewBytes(admissionv1.Create, "VirtualService",
			strings.Replace(vsJSON("canary", dest("v1", 90), dest("v3", 20)), `"namespace":"default"`, `"namespace":"default","annotations":{"kubectl-mesh.io/validation":"disabled"}`, 1), ""), true, nil,
			[]string{"validation of VirtualService default/canary is disabled by the annotation kubectl-mesh.io/validation=disabled"}},
		{"an HTTPRoute to a Service that does not exist", reviewBytes(admissionv1.Create, "HTTPRoute", routeJSON(`[{"name":"reviewz","port":9080}]`), ""), false,
			[]string{"Error [MESH0801] HTTPRoute default/reviews spec.rules[0].backendRefs[0]: Service default/reviewz does not exist"}, nil},
		{"an HTTPRoute to a Service that exists", reviewBytes(admissionv1.Create, "HTTPRoute", routeJSON(`[{"name":"reviews","port":9080}]`), ""), true, nil, nil},
		{"a malformed HTTPRoute gets the schema finding", reviewBytes(admissionv1.Create, "HTTPRoute", routeJSON(`"reviews"`), ""), false,
			[]string{"Error [MESH0701] HTTPRoute default/reviews spec.rules[0].backendRefs: spec.rules[0].backendRefs must be a list"}, nil},
		{"a Gateway API Gateway is not taken for Istio's", reviewBytes(admissionv1.Create, "Gateway",
			`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"web","namespace":"default"},"spec":{"listeners":"x"}}`, ""), true, nil, nil},
		{"kinds it does not check are admitted", reviewBytes(admissionv1.Create, "ConfigMap", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, ""), true, nil, nil},
		{"namespace comes from the request when the object lacks it", reviewBytes(admissionv1.Create, "VirtualService",
			strings.Replace(vsJSON("canary", dest("v1", 100)), `,"namespace":"default"`, "", 1), ""), true, nil, nil},
		{"an unreadable object is denied with the reason", reviewBytes(admissionv1.Create, "VirtualService", `[1,2]`, ""), false,
			[]string{"kubectl-mesh could not read the object"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := decide(t, h, tc.body)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			for _, m := range tc.message {
				if resp.Result == nil || !strings.Contains(resp.Result.Message, m) {
					t.Errorf("message lacks %q: %+v", m, resp.Result)
				}
			}
			if !tc.allowed && resp.Result.Code != http.StatusForbidden {
				t.Errorf("code %d", resp.Result.Code)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(strings.Join(resp.Warnings, "\n"), w) {
					t.Errorf("warnings lack %q: %v", w, resp.Warnings)
				}
			}
		})
	}
}

func TestHandlerMalformedRequests(t *testing.T) {
	h, _ := newTestHandler(t)
	h.MaxRequestBytes = 1 << 10
	for name, body := range map[string][]byte{
		"not JSON":    []byte("hello"),
		"no request":  []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		"oversized":   bytes.Repeat([]byte("x"), 2<<10),
		"wrong shape": []byte(`{"request": 7}`),
		"empty":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			out, status := h.HandleBytes(context.Background(), body)
			if status != http.StatusBadRequest || !bytes.Contains(out, []byte(`"error"`)) {
				t.Errorf("status %d, body %s", status, out)
			}
		})
	}
}

func TestServeHTTP(t *testing.T) {
	h, _ := newTestHandler(t)
	ready := false
	h.Ready = func() bool { return ready }
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := reviewBytes(admissionv1.Create, "VirtualService", vsJSON("canary", dest("v1", 100)), "")
	resp, err := http.Post(srv.URL+Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before the caches sync: status %d, want 503 so the failure policy applies", resp.StatusCode)
	}
	ready = true
	resp, err = http.Post(srv.URL+Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", resp.StatusCode)
	}
}

// staleCache is a LiveReader standing in for the API server: it knows a
// DestinationRule the cache has not seen yet.
type staleCache struct {
	calls int
	extra string
}

func (s *staleCache) Overlay(_ context.Context, _ policies.Review, base policies.Inventory) (policies.Inventory, error) {
	s.calls++
	objs, err := policies.Parse("live.yaml", []byte(s.extra), "default")
	if err != nil {
		return nil, err
	}
	idx := policies.NewIndex("")
	for _, o := range objs {
		idx.Add(o)
	}
	return idx, nil
}

func TestLiveReadBeforeDenying(t *testing.T) {
	h, _ := newTestHandler(t)
	live := &staleCache{extra: strings.Replace(inventoryYAML, "  - {name: v2, labels: {version: v2}}\n", "  - {name: v2, labels: {version: v2}}\n  - {name: v3, labels: {version: v3}}\n", 1)}
	h.Live = live
	resp := decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", vsJSON("canary", dest("v1", 90), dest("v3", 10)), ""))
	if !resp.Allowed || live.calls != 1 {
		t.Fatalf("a subset the cache has not seen yet: allowed %v after %d live reads: %+v", resp.Allowed, live.calls, resp.Result)
	}
	resp = decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", vsJSON("canary", dest("v1", 90), dest("v2", 10)), ""))
	if !resp.Allowed || live.calls != 1 {
		t.Fatalf("a clean review must not read live: allowed %v, %d live reads", resp.Allowed, live.calls)
	}
	resp = decide(t, h, reviewBytes(admissionv1.Create, "VirtualService", vsJSON("canary", dest("v1", 90), dest("v7", 10)), ""))
	if resp.Allowed || live.calls != 2 {
		t.Fatalf("a subset missing live too is denied: allowed %v, %d live reads", resp.Allowed, live.calls)
	}
}

// TestSlimObjectKeepsWhatTheIndexReads indexes objects whole and slimmed and
// expects the same answers.
func TestSlimObjectKeepsWhatTheIndexReads(t *testing.T) {
	const extra = `
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"], tls: {mode: SIMPLE}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec: {hosts: [api.example.com], location: MESH_EXTERNAL, ports: [{number: 443, name: https, protocol: TLS}], exportTo: ["."]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gwvs, namespace: default, labels: {a: b}}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /x}, gateways: [gw]}]
    route: [{destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 100}]
    mirror: {host: api.example.com}
    timeout: 2s
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: istio
  addresses: [{value: 10.0.0.1}]
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: Same}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: team, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team}]
  to: [{group: "", kind: Service}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: team, namespace: team}
spec:
  parentRefs: [{name: web, namespace: default, sectionName: http}, {name: web, namespace: default, sectionName: https}]
  rules:
  - backendRefs: [{name: reviews, namespace: default, port: 9080}, {name: reviews, namespace: default, port: 80}]
`
	objs, err := policies.Parse("all.yaml", []byte(inventoryYAML+extra), "default")
	if err != nil {
		t.Fatal(err)
	}
	whole, slim := policies.NewIndex(""), policies.NewIndex("")
	for _, o := range objs {
		whole.Add(o)
		u := &unstructured.Unstructured{Object: o.Raw}
		s, _ := slimObject(u.DeepCopy())
		slim.Add(policies.NewObject(s.(*unstructured.Unstructured).Object, policies.Source{}))
	}
	e, err := policies.NewEngine(context.Background(), policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		for _, op := range []policies.Operation{policies.OperationCreate, policies.OperationDelete} {
			r := policies.Review{Operation: op, Object: o}
			if op == policies.OperationDelete {
				r = policies.Review{Operation: op, OldObject: o}
			}
			a, err1 := e.Review(context.Background(), r, whole)
			b, err2 := e.Review(context.Background(), r, slim)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("%s %s: whole %v (%v), slim %v (%v)", op, o.Ref(), a, err1, b, err2)
			}
		}
	}
}
