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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

const (
	// BreakGlassAnnotation (and namespace label) set to "disabled" turns
	// validation off for one object (admitted with a warning) or, through
	// the chart's namespaceSelector, for a whole namespace.
	BreakGlassAnnotation = "kubectl-mesh.io/validation"
	breakGlassValue      = "disabled"

	// DefaultMaxRequestBytes bounds an AdmissionReview body: an UPDATE
	// carries the object twice, and the API server limits objects to
	// about 3 MiB.
	DefaultMaxRequestBytes = 8 << 20
	// DefaultMaxObjectBytes is the largest object reviewed. Rego's cost
	// grows with the routes of an object: four concurrent reviews of a
	// 1.5 MB VirtualService of 15,000 routes took 9 s and 727 MiB, while
	// real VirtualServices are a few KB.
	DefaultMaxObjectBytes = 1 << 20
	// DefaultMaxFindings is the number of findings reported per object.
	DefaultMaxFindings = 50
	// DefaultDecisionCacheSize is the policy decisions mesh-webhook keeps:
	// about 1.5 MiB, more shapes than a 10,000-Service fleet has.
	DefaultDecisionCacheSize = 16384
	// DefaultQueueWait is how long a review waits for a free slot before
	// the answer is "busy"; well inside the 3 s timeoutSeconds.
	DefaultQueueWait = time.Second
	// DefaultReviewTimeout stays below the configuration's timeoutSeconds (3).
	DefaultReviewTimeout = 2500 * time.Millisecond
)

// LiveReader reads what a review references straight from the API server,
// for when the informer cache may lag behind (a DestinationRule created a
// moment before the VirtualService that uses it).
type LiveReader interface {
	Overlay(ctx context.Context, r policies.Review, base policies.Inventory) (policies.Inventory, error)
}

// NamespaceInfo is what the handler needs of a namespace.
type NamespaceInfo struct {
	Labels      map[string]string
	Terminating bool
}

// Namespaces looks namespaces up: from a cache, and live from the API
// server when a decision depends on it.
type Namespaces interface {
	// Cached returns the namespace as the cache has it; false when the
	// cache does not know it.
	Cached(name string) (NamespaceInfo, bool)
	// Live reads the namespace from the API server.
	Live(ctx context.Context, name string) (NamespaceInfo, error)
}

// OptOut says where the per-object opt-out annotation is honoured.
type OptOut struct {
	// Mode is OptOutAllowed (everywhere), OptOutOff (nowhere) or
	// OptOutLabelled (in namespaces carrying NamespaceLabel).
	Mode string
	// NamespaceLabel is key=value (or key alone, for any value).
	NamespaceLabel string
}

// Modes of OptOut.
const (
	OptOutAllowed  = "allowed"
	OptOutOff      = "off"
	OptOutLabelled = "labelled-namespaces"
)

// Handler answers AdmissionReview v1 requests on /validate.
type Handler struct {
	Engine    *policies.Engine
	Inventory policies.Inventory
	// Live, when set, is consulted before denying for a missing reference.
	Live LiveReader
	// Namespaces, when set, tells terminating namespaces and namespace
	// labels apart; without it neither is known.
	Namespaces      Namespaces
	Metrics         *Metrics
	Log             logr.Logger
	Timeout         time.Duration
	MaxRequestBytes int64
	// MaxObjectBytes refuses larger objects on CREATE and UPDATE.
	MaxObjectBytes int64
	// MaxFindings caps the findings reported per object (errors first).
	MaxFindings int
	// MaxConcurrent caps the reviews in progress; 0 is twice GOMAXPROCS.
	MaxConcurrent int
	// QueueWait is how long a review waits for a slot before "busy".
	QueueWait time.Duration
	// BusyAdmits admits CREATE and UPDATE when busy (failurePolicy
	// Ignore); otherwise they are refused with 429. DELETEs are admitted.
	BusyAdmits bool
	// OptOut restricts the per-object opt-out annotation.
	OptOut OptOut
	// Ready, when set and false, makes the handler answer 503 so the API
	// server applies the failure policy instead of trusting a cold cache.
	Ready func() bool

	gateOnce sync.Once
	gate     chan struct{}
	// open caps the requests whose bodies are held at once: the review
	// slots and, per slot, two waiting.
	open chan struct{}
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (h *Handler) timeout() time.Duration { return orDefault(h.Timeout, DefaultReviewTimeout) }
func (h *Handler) maxBytes() int64        { return orDefault(h.MaxRequestBytes, DefaultMaxRequestBytes) }
func (h *Handler) maxObject() int64       { return orDefault(h.MaxObjectBytes, DefaultMaxObjectBytes) }
func (h *Handler) maxFindings() int       { return orDefault(h.MaxFindings, DefaultMaxFindings) }

// slots returns the semaphore of reviews in progress.
func (h *Handler) slots() chan struct{} {
	h.gateOnce.Do(func() {
		h.gate = make(chan struct{}, orDefault(h.MaxConcurrent, 2*runtime.GOMAXPROCS(0)))
		h.open = make(chan struct{}, 3*cap(h.gate))
	})
	return h.gate
}

// acquire takes a review slot, waiting at most QueueWait (and never past
// ctx); false means none came free.
func (h *Handler) acquire(ctx context.Context) bool {
	slots := h.slots()
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(orDefault(h.QueueWait, DefaultQueueWait))
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (h *Handler) release() { <-h.slots() }

// holdBody takes a place among the requests whose bodies are held,
// waiting at most QueueWait (and never past ctx).
func (h *Handler) holdBody(ctx context.Context) bool {
	h.slots()
	select {
	case h.open <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(orDefault(h.QueueWait, DefaultQueueWait))
	defer t.Stop()
	select {
	case h.open <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// ServeHTTP decodes the AdmissionReview, reviews it and answers. Requests
// that are not a readable AdmissionReview get HTTP 400 with the reason, or,
// when the UID can be read, a denial saying why.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if h.Ready != nil && !h.Ready() {
		http.Error(w, "mesh-webhook is starting: inventory caches not synced", http.StatusServiceUnavailable)
		return
	}
	// Bodies are read before a review slot is free (the busy answer needs
	// the request's UID), so how many are held at once is capped too: past
	// that, the API server gets a plain 429 and applies the failure policy.
	// A burst (kubectl apply -f dir/) waits for them as for a review slot.
	if !h.holdBody(r.Context()) {
		h.Metrics.decision("", "", "busy", 0)
		http.Error(w, fmt.Sprintf("mesh-webhook is busy: %d requests in progress", cap(h.open)), http.StatusTooManyRequests)
		return
	}
	defer func() { <-h.open }()
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
	h.Metrics.request(time.Since(start))
}

// HandleBytes is the whole handler on bytes: AdmissionReview in, response
// and HTTP status out. Benchmarks and fuzzing call it directly.
func (h *Handler) HandleBytes(ctx context.Context, body []byte) ([]byte, int) {
	if int64(len(body)) > h.maxBytes() {
		return h.badRequest(fmt.Sprintf("request of more than %d bytes", h.maxBytes()))
	}
	// At most MaxConcurrent requests are decoded and reviewed at once, so
	// memory stays bounded however many the API server sends.
	if !h.acquire(ctx) {
		return h.busy(body)
	}
	defer h.release()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return h.badRequest("not an AdmissionReview: " + err.Error())
	}
	if review.Request == nil {
		return h.badRequest("AdmissionReview without a request")
	}
	return h.respond(review.Request.UID, h.Review(ctx, review.Request))
}

func (h *Handler) respond(uid types.UID, resp *admissionv1.AdmissionResponse) ([]byte, int) {
	resp.UID = uid
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	})
	if err != nil {
		return h.badRequest("encoding the response: " + err.Error())
	}
	return out, http.StatusOK
}

// busy answers a request no slot came free for. It reads only the UID,
// operation and kind, which costs little next to a review.
func (h *Handler) busy(body []byte) ([]byte, int) {
	var head struct {
		Request *struct {
			UID       types.UID               `json:"uid"`
			Operation admissionv1.Operation   `json:"operation"`
			Kind      metav1.GroupVersionKind `json:"kind"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.Request == nil {
		return h.badRequest("mesh-webhook is busy, and the request is no AdmissionReview")
	}
	req := head.Request
	capacity := cap(h.slots())
	msg := fmt.Sprintf("mesh-webhook is busy: %d reviews in progress, none finished within %s", capacity, orDefault(h.QueueWait, DefaultQueueWait))
	var resp *admissionv1.AdmissionResponse
	if req.Operation == admissionv1.Delete || h.BusyAdmits {
		resp = &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{msg + "; admitted unchecked"},
			AuditAnnotations: map[string]string{"unchecked": "busy"}}
	} else {
		resp = &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests,
			Message: msg + "; retry in a moment",
			Details: &metav1.StatusDetails{RetryAfterSeconds: 1},
		}}
	}
	h.Metrics.decision(string(req.Operation), req.Kind.Kind, "busy", 0)
	h.Log.Info("busy", "operation", req.Operation, "kind", req.Kind.Kind, "allowed", resp.Allowed)
	return h.respond(req.UID, resp)
}

func (h *Handler) badRequest(msg string) ([]byte, int) {
	h.Metrics.decision("", "", "malformed", 0)
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b, http.StatusBadRequest
}

// Review decides one admission request.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	start := time.Now()
	resp, result := h.review(ctx, req)
	h.Metrics.decision(string(req.Operation), req.Kind.Kind, result, time.Since(start))
	return resp
}

func deny(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg,
	}}
}

// admitUnchecked admits with a warning, an audit annotation (the API
// server records it under the webhook entry's name, as
// validate.mesh.kubectl-mesh.io/<key> or, for deletes,
// validate-delete.mesh.kubectl-mesh.io/<key>) and a log line: every way
// around the checks leaves a trace.
func (h *Handler) admitUnchecked(req *admissionv1.AdmissionRequest, subject *policies.Object, key, why string) *admissionv1.AdmissionResponse {
	h.Log.Info("admitted unchecked", "object", subject.Ref(), "operation", req.Operation, "user", req.UserInfo.Username, key, why)
	return &admissionv1.AdmissionResponse{Allowed: true,
		Warnings:         []string{fmt.Sprintf("kubectl-mesh admitted %s of %s unchecked: %s", strings.ToLower(string(req.Operation)), subject.Ref(), why)},
		AuditAnnotations: map[string]string{key: why},
	}
}

// CleanupUsers are the identities whose deletes are clean-up that must
// never be blocked: the namespace controller and the garbage collector,
// under their own service accounts or, when kube-controller-manager runs
// without --use-service-account-credentials, under its identity. The
// chart's matchConditions skip them at the API server too.
func CleanupUsers() []string {
	return []string{
		"system:serviceaccount:kube-system:namespace-controller",
		"system:serviceaccount:kube-system:generic-garbage-collector",
		"system:kube-controller-manager",
	}
}

func isCleanupUser(name string) bool {
	for _, u := range CleanupUsers() {
		if u == name {
			return true
		}
	}
	return false
}

// namespace returns what is known of a namespace, from the cache.
func (h *Handler) namespace(name string) (NamespaceInfo, bool) {
	if h.Namespaces == nil || name == "" {
		return NamespaceInfo{}, false
	}
	return h.Namespaces.Cached(name)
}

// terminating reports whether a namespace is being deleted, asking the
// API server when the cache does not say so: called only on the way to
// denying a delete, so the read is rare and must not be stale.
func (h *Handler) terminating(ctx context.Context, name string) bool {
	if ns, ok := h.namespace(name); ok && ns.Terminating {
		return true
	}
	if h.Namespaces == nil || name == "" {
		return false
	}
	ns, err := h.Namespaces.Live(ctx, name)
	if err != nil {
		h.Log.Error(err, "reading namespace; taking it as not terminating", "namespace", name)
		return false
	}
	return ns.Terminating
}

// optOut returns why validation of subject is off, or "".
func (h *Handler) optOut(subject *policies.Object) string {
	ns, known := h.namespace(subject.Namespace())
	if known && ns.Labels[BreakGlassAnnotation] == breakGlassValue {
		return fmt.Sprintf("namespace %s carries the label %s=%s", subject.Namespace(), BreakGlassAnnotation, breakGlassValue)
	}
	if subject.Annotations()[BreakGlassAnnotation] != breakGlassValue {
		return ""
	}
	why := fmt.Sprintf("validation of %s is disabled by the annotation %s=%s", subject.Ref(), BreakGlassAnnotation, breakGlassValue)
	switch h.OptOut.Mode {
	case OptOutOff:
		return ""
	case OptOutLabelled:
		key, value, hasValue := strings.Cut(h.OptOut.NamespaceLabel, "=")
		got, ok := ns.Labels[key]
		if !known || !ok || (hasValue && got != value) {
			return ""
		}
	}
	return why
}

func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	if n := int64(len(req.Object.Raw)); n > h.maxObject() && req.Operation != admissionv1.Delete {
		return h.refuseLarge(req, n)
	}
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
	if !r.Reviewed() {
		return &admissionv1.AdmissionResponse{Allowed: true}, "allowed"
	}
	isDelete := req.Operation == admissionv1.Delete
	if isDelete && isCleanupUser(req.UserInfo.Username) {
		return h.admitUnchecked(req, subject, "cleanup", "deleted by "+req.UserInfo.Username), "cleanup"
	}
	if isDelete {
		if ns, ok := h.namespace(subject.Namespace()); ok && ns.Terminating {
			return h.admitUnchecked(req, subject, "cleanup", "namespace "+subject.Namespace()+" is terminating"), "cleanup"
		}
	}
	if why := h.optOut(subject); why != "" {
		return h.admitUnchecked(req, subject, "opt-out", why), "bypassed"
	}
	outcome, err := h.Engine.Check(ctx, policies.Change{Reviews: []policies.Review{r}, Inventory: h.Inventory, Limit: h.maxFindings()})
	findings, omitted := outcome.Findings, outcome.Omitted
	if err == nil && h.Live != nil && needsLiveCheck(findings) {
		h.Metrics.liveRead(subject.Kind())
		inv, lerr := h.Live.Overlay(ctx, r, h.Inventory)
		if lerr != nil {
			h.Log.Error(lerr, "live read failed; deciding on the cache", "object", subject.Ref())
		} else {
			outcome, err = h.Engine.Check(ctx, policies.Change{Reviews: []policies.Review{r}, Inventory: inv, Limit: h.maxFindings()})
			findings, omitted = outcome.Findings, outcome.Omitted
		}
	}
	if err != nil {
		if isDelete {
			// DELETE's failure policy is Ignore: a delete is never blocked
			// because the review could not be made.
			return h.admitUnchecked(req, subject, "unchecked", "the review failed: "+err.Error()), "error"
		}
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
	if omitted.Findings > 0 {
		more := fmt.Sprintf("... and %d more findings (%d errors) not shown; kubectl mesh validate lists them all", omitted.Findings, omitted.Errors)
		if omitted.Stopped {
			more = fmt.Sprintf("... and at least %d more findings (%d errors) not shown; kubectl mesh validate lists them all", omitted.Findings, omitted.Errors)
		}
		if len(denials) > 0 {
			denials = append(denials, more)
		} else {
			resp.Warnings = append(resp.Warnings, more)
		}
	}
	if len(denials) > 0 && isDelete && h.terminating(ctx, subject.Namespace()) {
		return h.admitUnchecked(req, subject, "cleanup", "namespace "+subject.Namespace()+" is terminating"), "cleanup"
	}
	if len(denials) > 0 {
		d := deny(strings.Join(denials, "\n"))
		d.Warnings = resp.Warnings
		h.Log.V(1).Info("denied", "object", subject.Ref(), "operation", r.Operation, "errors", len(denials))
		return d, "denied"
	}
	return resp, "allowed"
}

// refuseLarge answers a CREATE or UPDATE of an object above MaxObjectBytes
// without decoding it whole (that alone took 49 ms and 24 MB for 1.5 MB):
// only its identity and annotations are read, for the opt-out.
func (h *Handler) refuseLarge(req *admissionv1.AdmissionRequest, n int64) (*admissionv1.AdmissionResponse, string) {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(req.Object.Raw, &head); err != nil {
		return deny(fmt.Sprintf("kubectl-mesh could not read the object: %v", err)), "malformed"
	}
	annotations := map[string]any{}
	for k, v := range head.Metadata.Annotations {
		annotations[k] = v
	}
	subject := policies.NewObject(map[string]any{"apiVersion": head.APIVersion, "kind": head.Kind,
		"metadata": map[string]any{"name": head.Metadata.Name, "namespace": head.Metadata.Namespace, "annotations": annotations}}, policies.Source{})
	if subject.Namespace() == "" {
		subject.SetNamespace(req.Namespace)
	}
	if !subject.IsReviewed() {
		return &admissionv1.AdmissionResponse{Allowed: true}, "allowed"
	}
	if why := h.optOut(subject); why != "" {
		return h.admitUnchecked(req, subject, "opt-out", why), "bypassed"
	}
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusRequestEntityTooLarge, Reason: metav1.StatusReasonRequestEntityTooLarge,
		Message: fmt.Sprintf("kubectl-mesh reviews objects of up to %d bytes; %s has %d: split it into several, or check it with kubectl mesh validate and opt it out (docs/webhook.md)", h.maxObject(), subject.Ref(), n),
	}}, "too-large"
}

// needsLiveCheck reports whether a finding could be a stale cache's doing:
// a reference that looks missing, or a use that may already be gone.
func needsLiveCheck(findings []policies.Finding) bool {
	for _, f := range findings {
		if !f.IsError() {
			continue
		}
		switch f.Category {
		case "host", "subset", "port", "gateway", "reference", "route":
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
