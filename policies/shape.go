package policies

import (
	"fmt"
	"strconv"
)

// The checks read a handful of fields of each Istio object. Shape walks
// exactly those once, in Go, noting what is there and what has the wrong
// type, so the Rego policies get compact facts instead of walking (and
// formatting field paths for) every object themselves. Measured: the walk
// in Rego cost about 0.4 ms per VirtualService; see docs/BENCHMARKS.md.

// DestinationRef is one destination of a VirtualService route or mirror.
type DestinationRef struct {
	Field  string // e.g. spec.http[0].route[1].destination
	Host   string
	Subset string
	// Port is destination.port.number; HasPort is false when none is given.
	Port    int64
	HasPort bool
	// Weight of the route destination; HasWeight is false when none is given.
	Weight    int64
	HasWeight bool
	Mirror    bool
	// Dropped is a destination of weight 0 in a route of several: pilot
	// leaves it out of Envoy's weighted clusters, so nothing is sent to it
	// and nothing about it can break traffic.
	Dropped bool
}

// RouteShape is one weighted route list (spec.http[i].route and the like)
// whose every entry is well formed, so its weights can be judged.
type RouteShape struct {
	Field string
	// Destinations is a part of Shape.Destinations, not a copy: a large
	// validation keeps the shape of every object under review.
	Destinations []DestinationRef
	// first and end delimit Destinations in Shape.Destinations until
	// the walk is over and that slice has stopped growing.
	first, end int
}

// GatewayRef is a gateway named by a VirtualService, where first named.
type GatewayRef struct {
	Name  string
	Field string
}

// TypeProblem is a field of the wrong type.
type TypeProblem struct {
	Field string
	Want  string
	Got   string
}

// Shape is what the checks read of one object.
type Shape struct {
	Routes       []RouteShape
	Destinations []DestinationRef
	Gateways     []GatewayRef
	Malformed    []TypeProblem
	// Missing lists required fields that are absent or empty.
	Missing []string
	// Hosts and ExportTo are the strings of spec.hosts (VirtualService)
	// and spec.exportTo (VirtualService, DestinationRule).
	Hosts    []string
	ExportTo []string
	// Host is spec.host of a DestinationRule when it is a string.
	Host string
	// SubsetNames are the names of the DestinationRule's subsets that are
	// strings, empty ones included; Subsets are those with a name, with
	// the labels that are strings.
	SubsetNames []string
	Subsets     []Subset
	// Gateway API routes: parentRefs, the backendRefs of every rule, and
	// each rule's weights.
	ParentRefs   []ParentRefShape
	BackendRefs  []BackendRefShape
	BackendRules []BackendRuleShape
}

type shapeWalker struct {
	s         Shape
	labelSets *labelSets // nil: every subset keeps a map of its own
}

// fieldPath is a field's path in two parts, joined only when a finding
// names it: most fields are well formed, and joining every path the walk
// passes was a good part of the allocations of loading a large mesh.
type fieldPath struct{ base, leaf string }

func at(base, leaf string) fieldPath { return fieldPath{base, leaf} }

func (p fieldPath) String() string { return p.base + p.leaf }

func (w *shapeWalker) malformed(field fieldPath, want string, v any) {
	w.s.Malformed = append(w.s.Malformed, TypeProblem{Field: field.String(), Want: want, Got: describeValue(v)})
}

// object returns v as a map; a present value of another type is malformed.
func (w *shapeWalker) object(field fieldPath, v any, present bool) (map[string]any, bool) {
	if !present {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		w.malformed(field, "an object", v)
	}
	return m, ok
}

func (w *shapeWalker) array(field fieldPath, v any, present bool) ([]any, bool) {
	if !present {
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		w.malformed(field, "a list", v)
	}
	return a, ok
}

// eachObject walks the list parent[key], whose field is base+leaf: a
// present value that is not a list, or an item that is not an object, is
// malformed; fn gets each object item with its field, base+leaf+"[i]".
func (w *shapeWalker) eachObject(parent map[string]any, key, base, leaf string, fn func(field string, item map[string]any)) {
	v, has := get(parent, key)
	items, ok := w.array(at(base, leaf), v, has)
	if !ok {
		return
	}
	for i, it := range items {
		f := base + leaf + "[" + strconv.Itoa(i) + "]"
		if m, ok := w.object(at(f, ""), it, true); ok {
			fn(f, m)
		}
	}
}

func (w *shapeWalker) str(field fieldPath, v any, present bool) (string, bool) {
	if !present {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		w.malformed(field, "a string", v)
	}
	return s, ok
}

func (w *shapeWalker) integer(field fieldPath, v any, present bool) (int64, bool) {
	if !present {
		return 0, false
	}
	n, ok := intValue(v)
	if !ok {
		w.malformed(field, "a whole number", v)
	}
	return n, ok
}

func (w *shapeWalker) strings(field fieldPath, v any, present bool) ([]string, bool) {
	a, ok := w.array(field, v, present)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(a))
	for i, it := range a {
		s, ok := it.(string)
		if !ok {
			w.malformed(at(field.String(), "["+strconv.Itoa(i)+"]"), "a string", it)
			continue
		}
		out = append(out, s)
	}
	return out, true
}

func (w *shapeWalker) labels(field fieldPath, v any, present bool) {
	m, ok := w.object(field, v, present)
	if !ok {
		return
	}
	for k, val := range m {
		if _, ok := val.(string); !ok {
			w.malformed(at(field.String(), "."+k), "a string", val)
		}
	}
}

// required notes a required field that is absent or empty.
func (w *shapeWalker) required(field fieldPath, v any, present bool) {
	switch x := v.(type) {
	case nil:
		if !present {
			w.s.Missing = append(w.s.Missing, field.String())
		}
	case string:
		if x == "" {
			w.s.Missing = append(w.s.Missing, field.String())
		}
	case []any:
		if len(x) == 0 {
			w.s.Missing = append(w.s.Missing, field.String())
		}
	}
}

func get(m map[string]any, k string) (any, bool) {
	v, ok := m[k]
	return v, ok
}

// ShapeOf walks the fields the checks read.
func ShapeOf(obj *Object) Shape { return shapeOf(obj, nil) }

func shapeOf(obj *Object, labels *labelSets) Shape {
	w := &shapeWalker{labelSets: labels}
	name, hasName := get(mapAt(obj.Raw, "metadata"), "name")
	w.required(at("metadata.name", ""), name, hasName)
	w.str(at("metadata.name", ""), name, hasName)
	specV, hasSpec := get(obj.Raw, "spec")
	w.required(at("spec", ""), specV, hasSpec)
	spec, ok := w.object(at("spec", ""), specV, hasSpec)
	if !ok {
		return w.s
	}
	if obj.Group() == GatewayAPIGroup {
		// Kinds shared with Istio's (Gateway) must not be walked as Istio's.
		if obj.IsGatewayAPIRoute() {
			w.gatewayRoute(spec)
		}
		return w.s
	}
	switch obj.Kind() {
	case KindVirtualService:
		w.virtualService(spec)
		for i := range w.s.Routes {
			r := &w.s.Routes[i]
			r.Destinations = w.s.Destinations[r.first:r.end:r.end]
		}
	case KindDestinationRule:
		w.destinationRule(spec)
	case KindGateway:
		w.gateway(spec)
	case KindServiceEntry:
		w.serviceEntry(spec)
	}
	return w.s
}

func (w *shapeWalker) virtualService(spec map[string]any) {
	hosts, has := get(spec, "hosts")
	w.required(at("spec.hosts", ""), hosts, has)
	w.s.Hosts, _ = w.strings(at("spec.hosts", ""), hosts, has)
	v, has := get(spec, "exportTo")
	w.s.ExportTo, _ = w.strings(at("spec.exportTo", ""), v, has)
	seen := map[string]bool{}
	addGateway := func(name, field string) {
		if !seen[name] {
			seen[name] = true
			w.s.Gateways = append(w.s.Gateways, GatewayRef{Name: name, Field: field})
		}
	}
	v, has = get(spec, "gateways")
	if gws, ok := w.array(at("spec.gateways", ""), v, has); ok {
		for i, g := range gws {
			field := "spec.gateways[" + strconv.Itoa(i) + "]"
			if s, ok := w.str(at(field, ""), g, true); ok {
				addGateway(s, field)
			}
		}
	}
	for _, kind := range routeKinds {
		w.eachObject(spec, kind, "spec.", kind, func(rf string, route map[string]any) {
			w.matchGateways(rf, route, addGateway)
			w.route(rf, route)
			if kind == "http" {
				w.mirrors(rf, route)
			}
		})
	}
}

func (w *shapeWalker) matchGateways(rf string, route map[string]any, add func(name, field string)) {
	w.eachObject(route, "match", rf, ".match", func(mf string, match map[string]any) {
		v, has := get(match, "gateways")
		gws, ok := w.array(at(mf, ".gateways"), v, has)
		if !ok {
			return
		}
		for k, g := range gws {
			field := mf + ".gateways[" + strconv.Itoa(k) + "]"
			if s, ok := w.str(at(field, ""), g, true); ok {
				add(s, field)
			}
		}
	})
}

func (w *shapeWalker) route(rf string, route map[string]any) {
	v, has := get(route, "route")
	entries, ok := w.array(at(rf, ".route"), v, has)
	if !ok {
		return
	}
	shape := RouteShape{Field: rf + ".route", first: len(w.s.Destinations)}
	complete := true
	for j, e := range entries {
		ef := shape.Field + "[" + strconv.Itoa(j) + "]"
		entry, ok := w.object(at(ef, ""), e, true)
		if !ok {
			complete = false
			continue
		}
		dv, has := get(entry, "destination")
		w.required(at(ef, ".destination"), dv, has)
		d, ok := w.destination(ef+".destination", dv, has)
		if !ok {
			complete = false
			continue
		}
		wv, has := get(entry, "weight")
		if n, ok := w.integer(at(ef, ".weight"), wv, has); ok {
			d.Weight, d.HasWeight = n, true
		} else if has {
			complete = false
		}
		w.s.Destinations = append(w.s.Destinations, d)
	}
	shape.end = len(w.s.Destinations)
	if len(entries) > 1 {
		for i := shape.first; i < shape.end; i++ {
			w.s.Destinations[i].Dropped = w.s.Destinations[i].Weight == 0
		}
	}
	if complete {
		w.s.Routes = append(w.s.Routes, shape)
	}
}

func (w *shapeWalker) mirrors(rf string, route map[string]any) {
	if v, has := get(route, "mirror"); has {
		if d, ok := w.destination(rf+".mirror", v, true); ok {
			d.Mirror = true
			w.s.Destinations = append(w.s.Destinations, d)
		}
	}
	w.eachObject(route, "mirrors", rf, ".mirrors", func(mf string, mirror map[string]any) {
		dv, has := get(mirror, "destination")
		w.required(at(mf, ".destination"), dv, has)
		if d, ok := w.destination(mf+".destination", dv, has); ok {
			d.Mirror = true
			w.s.Destinations = append(w.s.Destinations, d)
		}
	})
}

// destination reads a Destination; ok is false when it has no usable host.
func (w *shapeWalker) destination(field string, v any, present bool) (DestinationRef, bool) {
	d := DestinationRef{Field: field}
	m, ok := w.object(at(field, ""), v, present)
	if !ok {
		return d, false
	}
	hv, has := get(m, "host")
	w.required(at(field, ".host"), hv, has)
	host, hostOK := w.str(at(field, ".host"), hv, has)
	d.Host = host
	if sv, has := get(m, "subset"); has {
		d.Subset, _ = w.str(at(field, ".subset"), sv, true)
	}
	pv, has := get(m, "port")
	if port, ok := w.object(at(field, ".port"), pv, has); ok {
		nv, has := get(port, "number")
		d.Port, d.HasPort = w.integer(at(field, ".port.number"), nv, has)
	}
	return d, hostOK && host != ""
}

func (w *shapeWalker) destinationRule(spec map[string]any) {
	v, has := get(spec, "host")
	w.required(at("spec.host", ""), v, has)
	w.s.Host, _ = w.str(at("spec.host", ""), v, has)
	v, has = get(spec, "exportTo")
	w.s.ExportTo, _ = w.strings(at("spec.exportTo", ""), v, has)
	v, has = get(spec, "trafficPolicy")
	w.object(at("spec.trafficPolicy", ""), v, has)
	w.eachObject(spec, "subsets", "spec.subsets", "", func(sf string, subset map[string]any) {
		nv, has := get(subset, "name")
		w.required(at(sf, ".name"), nv, has)
		name, isString := w.str(at(sf, ".name"), nv, has)
		lv, has := get(subset, "labels")
		w.labels(at(sf, ".labels"), lv, has)
		if isString {
			w.s.SubsetNames = append(w.s.SubsetNames, name)
			if name != "" {
				w.s.Subsets = append(w.s.Subsets, Subset{Name: name, Labels: w.labelSets.share(stringMap(lv))})
			}
		}
		tv, has := get(subset, "trafficPolicy")
		w.object(at(sf, ".trafficPolicy"), tv, has)
	})
}

func (w *shapeWalker) gateway(spec map[string]any) {
	v, has := get(spec, "selector")
	w.labels(at("spec.selector", ""), v, has)
	v, has = get(spec, "servers")
	w.required(at("spec.servers", ""), v, has)
	w.eachObject(spec, "servers", "spec.servers", "", func(sf string, server map[string]any) {
		hv, has := get(server, "hosts")
		w.required(at(sf, ".hosts"), hv, has)
		w.strings(at(sf, ".hosts"), hv, has)
		pv, has := get(server, "port")
		if port, ok := w.object(at(sf, ".port"), pv, has); ok {
			nv, has := get(port, "number")
			w.integer(at(sf, ".port.number"), nv, has)
		}
	})
}

func (w *shapeWalker) serviceEntry(spec map[string]any) {
	v, has := get(spec, "hosts")
	w.required(at("spec.hosts", ""), v, has)
	w.strings(at("spec.hosts", ""), v, has)
	for _, f := range []string{"exportTo", "addresses"} {
		v, has := get(spec, f)
		w.strings(at("spec.", f), v, has)
	}
	w.eachObject(spec, "ports", "spec.ports", "", func(pf string, port map[string]any) {
		nv, has := get(port, "number")
		w.integer(at(pf, ".number"), nv, has)
	})
}

// describeValue says what a value is, for "must be X, not Y" messages.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// routeKinds are the route lists of a VirtualService.
var routeKinds = [...]string{"http", "tcp", "tls"}
