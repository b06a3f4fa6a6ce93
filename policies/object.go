package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
)

// Kinds the policies review. Everything else in an input is inventory only.
const (
	KindVirtualService  = "VirtualService"
	KindDestinationRule = "DestinationRule"
	KindGateway         = "Gateway"
	KindServiceEntry    = "ServiceEntry"
	KindService         = "Service"
	KindPod             = "Pod"

	IstioNetworkingGroup = "networking.istio.io"
)

// Source says where an object was read from, so findings can point at it.
type Source struct {
	File string `json:"file,omitempty"`
	// Line is the 1-based line of the object's first line in File; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Document is the 0-based index of the YAML document in File.
	Document int `json:"-"`
}

// Object is one Kubernetes object as decoded from YAML or JSON, kept
// untyped: the policies see exactly what the user wrote, wrong types included.
type Object struct {
	Raw    map[string]any
	Source Source
	// shaped caches ShapeOf for the index and the reviews, which both
	// read it; Compact keeps it when it drops Raw.
	shaped atomic.Pointer[Shape]
	// header is what Compact keeps of Raw besides the shape.
	header *objectHeader
}

// objectHeader identifies a compacted object.
type objectHeader struct {
	apiVersion, kind, name, namespace string
}

// shape returns ShapeOf(o), walking Raw the first time only. Raw must not
// change afterwards (SetNamespace aside: the shape has no namespace).
func (o *Object) shape() *Shape { return o.shapeSharing(nil) }

// shapeSharing is shape, with subsets' label maps shared through labels
// when the walk is done here.
func (o *Object) shapeSharing(labels *labelSets) *Shape {
	if s := o.shaped.Load(); s != nil {
		return s
	}
	s := shapeOf(o, labels)
	o.shaped.Store(&s)
	return &s
}

// Compact keeps of a VirtualService or DestinationRule only what the
// built-in policies and the Index read (its shape, apiVersion, kind, name
// and namespace) and lets Raw go: an offline validation of a large mesh
// holds every object under review until the inventory is complete, and
// their decoded maps were most of its memory. Other kinds are left whole.
// After Compact, Raw is nil and Spec, Labels and Annotations are empty, so
// user policies, which read the object as written, must see it before.
func (o *Object) Compact() {
	if o.header != nil || o.Group() != IstioNetworkingGroup || (o.Kind() != KindVirtualService && o.Kind() != KindDestinationRule) {
		return
	}
	o.shape()
	o.header = &objectHeader{apiVersion: o.APIVersion(), kind: o.Kind(), name: o.Name(), namespace: o.Namespace()}
	o.Raw = nil
}

// NewObject wraps a decoded object.
func NewObject(raw map[string]any, src Source) *Object {
	return &Object{Raw: raw, Source: src}
}

// APIVersion returns apiVersion, or "" when it is missing or not a string.
func (o *Object) APIVersion() string {
	if o.header != nil {
		return o.header.apiVersion
	}
	return str(o.Raw["apiVersion"])
}

// Kind returns kind, or "".
func (o *Object) Kind() string {
	if o.header != nil {
		return o.header.kind
	}
	return str(o.Raw["kind"])
}

// Group returns the API group of apiVersion ("" for the core group).
func (o *Object) Group() string {
	av := o.APIVersion()
	if i := strings.IndexByte(av, '/'); i >= 0 {
		return av[:i]
	}
	return ""
}

// Name returns metadata.name, or "".
func (o *Object) Name() string {
	if o.header != nil {
		return o.header.name
	}
	return str(mapAt(o.Raw, "metadata")["name"])
}

// Namespace returns metadata.namespace, or "".
func (o *Object) Namespace() string {
	if o.header != nil {
		return o.header.namespace
	}
	return str(mapAt(o.Raw, "metadata")["namespace"])
}

// SetNamespace sets metadata.namespace, creating metadata when needed.
func (o *Object) SetNamespace(ns string) {
	if o.header != nil {
		o.header.namespace = ns
		return
	}
	md, ok := o.Raw["metadata"].(map[string]any)
	if !ok {
		md = map[string]any{}
		o.Raw["metadata"] = md
	}
	md["namespace"] = ns
}

// Labels returns metadata.labels with non-string values dropped.
func (o *Object) Labels() map[string]string {
	return stringMap(mapAt(o.Raw, "metadata")["labels"])
}

// Annotations returns metadata.annotations with non-string values dropped.
func (o *Object) Annotations() map[string]string {
	return stringMap(mapAt(o.Raw, "metadata")["annotations"])
}

// Spec returns spec as a map, or an empty map when it is missing or malformed.
func (o *Object) Spec() map[string]any { return mapAt(o.Raw, "spec") }

// IsIstioNetworking reports whether the object is one of the Istio
// networking kinds the policies review.
func (o *Object) IsIstioNetworking() bool {
	if o.Group() != IstioNetworkingGroup {
		return false
	}
	switch o.Kind() {
	case KindVirtualService, KindDestinationRule, KindGateway, KindServiceEntry:
		return true
	}
	return false
}

// IsCoreService reports whether the object is a core/v1 Service.
func (o *Object) IsCoreService() bool { return o.APIVersion() == "v1" && o.Kind() == KindService }

// Ref is "Kind namespace/name", the way findings and errors name an object.
func (o *Object) Ref() string { return o.Kind() + " " + o.Namespace() + "/" + o.Name() }

func str(v any) string {
	s, _ := v.(string)
	return s
}

func mapAt(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	if v == nil {
		return map[string]any{}
	}
	return v
}

func sliceAt(m map[string]any, key string) []any {
	v, _ := m[key].([]any)
	return v
}

func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}

func stringSlice(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// IntValue reads a whole number as any decoder of this project produces
// it (see intValue).
func IntValue(v any) (int64, bool) { return intValue(v) }

// intValue accepts the integer forms decoders produce (YAML gives int, JSON
// float64 or json.Number); ok is false for anything that is not a whole number.
func intValue(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), n <= 1<<63-1
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	}
	return 0, false
}

// DecodeJSONObject decodes one JSON object (an AdmissionReview's object,
// say) into the values the policies read, numbers as int64 or float64.
func DecodeJSONObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	fromJSON(m)
	return m, nil
}
