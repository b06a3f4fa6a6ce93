// Package webhook is mesh-webhook: an AdmissionReview handler that runs the
// policy core of package policies against an informer-backed inventory,
// and the server, metrics and certificates around it.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

const (
	// BreakGlassAnnotation (and namespace label) set to "disabled" turns
	// validation off for one object (admitted with a warning) or, through
	// the chart's namespaceSelector, for a whole namespace.
	BreakGlassAnnotation = "kubectl-mesh.io/validation"
	breakGlassValue      = "disabled"

	// DefaultMaxRequestBytes bounds an AdmissionReview body; the API server
	// itself limits objects to about 3 MiB.
	DefaultMaxRequestBytes = 8 << 20
	// DefaultReviewTimeout stays below the configuration's timeoutSeconds (3).
	DefaultReviewTimeout = 2500 * time.Millisecond
)

// LiveReader reads what a review references straight from the API server,
// for when the informer cache may lag behind (a DestinationRule created a
// moment before the VirtualService that uses it).
type LiveReader interface {
	Overlay(ctx context.Context, r policies.Review, base policies.Inventory) (policies.Inventory, error)
}

// Handler answers AdmissionReview v1 requests on /validate.
type Handler struct {
	Engine    *policies.Engine
	Inventory policies.Inventory
	// Live, when set, is consulted before denying for a missing reference.
	Live            LiveReader
	Metrics         *Metrics
	Log             logr.Logger
	Timeout         time.Duration
	MaxRequestBytes int64
	// Ready, when set and false, makes the handler answer 503 so the API
	// server applies the failure policy instead of trusting a cold cache.
	Ready func() bool
}

func (h *Handler) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultReviewTimeout
}

func (h *Handler) maxBytes() int64 {
	if h.MaxRequestBytes > 0 {
		return h.MaxRequestBytes
	}
	return DefaultMaxRequestBytes
}

// ServeHTTP decodes the AdmissionReview, reviews it and answers. Requests
// that are not a readable AdmissionReview get HTTP 400 with the reason, or,
// when the UID can be read, a denial saying why.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if h.Ready != nil && !h.Ready() {
		http.Error(w, "mesh-webhook is starting: inventory caches not synced", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBytes()+1))
	if err != nil {
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout())
	defer cancel()
	out, status := h.HandleBytes(ctx, body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// HandleBytes is the whole handler on bytes: AdmissionReview in, response
// and HTTP status out. Benchmarks and fuzzing call it directly.
func (h *Handler) HandleBytes(ctx context.Context, body []byte) ([]byte, int) {
	var review admissionv1.AdmissionReview
	if int64(len(body)) > h.maxBytes() {
		return h.badRequest(fmt.Sprintf("request of more than %d bytes", h.maxBytes()))
	}
	if err := json.Unmarshal(body, &review); err != nil {
		return h.badRequest("not an AdmissionReview: " + err.Error())
	}
	if review.Request == nil {
		return h.badRequest("AdmissionReview without a request")
	}
	resp := h.Review(ctx, review.Request)
	resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	})
	if err != nil {
		return h.badRequest("encoding the response: " + err.Error())
	}
	return out, http.StatusOK
}

func (h *Handler) badRequest(msg string) ([]byte, int) {
	h.Metrics.decision("", "", "malformed", 0)
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b, http.StatusBadRequest
}

// Review decides one admission request.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	start := time.Now()
	op := string(req.Operation)
	kind := req.Kind.Kind
	resp, result := h.review(ctx, req)
	h.Metrics.decision(op, kind, result, time.Since(start))
	return resp
}

func deny(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg,
	}}
}

func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	r := policies.Review{Operation: policies.Operation(req.Operation)}
	var err error
	if r.Object, err = decodeObject(req.Object.Raw); err != nil {
		return deny(fmt.Sprintf("kubectl-mesh could not read the object: %v", err)), "malformed"
	}
	if r.OldObject, err = decodeObject(req.OldObject.Raw); err != nil {
		return deny(fmt.Sprintf("kubectl-mesh could not read the stored object: %v", err)), "malformed"
	}
	subject := r.Object
	if subject == nil {
		subject = r.OldObject
	}
	if subject == nil {
		return &admissionv1.AdmissionResponse{Allowed: true}, "allowed"
	}
	// Objects in requests may omit namespace and kind; the request has them.
	if subject.Namespace() == "" && req.Namespace != "" {
		subject.SetNamespace(req.Namespace)
	}
	if r.Object != nil && r.OldObject != nil && r.OldObject.Namespace() == "" {
		r.OldObject.SetNamespace(req.Namespace)
	}
	if !subject.IsIstioNetworking() {
		return &admissionv1.AdmissionResponse{Allowed: true}, "allowed"
	}
	if subject.Annotations()[BreakGlassAnnotation] == breakGlassValue {
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{
			fmt.Sprintf("kubectl-mesh validation of %s is disabled by the annotation %s=%s", subject.Ref(), BreakGlassAnnotation, breakGlassValue),
		}}, "bypassed"
	}
	findings, err := h.Engine.Review(ctx, r, h.Inventory)
	if err == nil && h.Live != nil && needsLiveCheck(findings) {
		h.Metrics.liveRead(subject.Kind())
		inv, lerr := h.Live.Overlay(ctx, r, h.Inventory)
		if lerr != nil {
			h.Log.Error(lerr, "live read failed; deciding on the cache", "object", subject.Ref())
		} else {
			findings, err = h.Engine.Review(ctx, r, inv)
		}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return deny("kubectl-mesh could not finish the review in time: " + err.Error()), "error"
		}
		return deny("kubectl-mesh could not review the object: " + err.Error()), "error"
	}
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	var denials []string
	for _, f := range findings {
		h.Metrics.finding(f)
		if f.IsError() {
			denials = append(denials, f.Text())
		} else {
			resp.Warnings = append(resp.Warnings, f.Text())
		}
	}
	if len(denials) > 0 {
		d := deny(strings.Join(denials, "\n"))
		d.Warnings = resp.Warnings
		h.Log.V(1).Info("denied", "object", subject.Ref(), "operation", r.Operation, "errors", len(denials))
		return d, "denied"
	}
	return resp, "allowed"
}

// needsLiveCheck reports whether a finding could be a stale cache's doing:
// a reference that looks missing, or a use that may already be gone.
func needsLiveCheck(findings []policies.Finding) bool {
	for _, f := range findings {
		if !f.IsError() {
			continue
		}
		switch f.Category {
		case "host", "subset", "port", "gateway", "reference":
			return true
		}
	}
	return false
}

func decodeObject(raw []byte) (*policies.Object, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	m, err := policies.DecodeJSONObject(raw)
	if err != nil {
		return nil, err
	}
	return policies.NewObject(m, policies.Source{}), nil
}
