package policies

import "strings"

// InventoryView returns the part of an object the inventory (Index.Add)
// reads: identity, resourceVersion and uid, the exportTo annotation, and
// per kind the spec fields references resolve against. mesh-webhook's
// informers keep only this view, so that a cluster of 10,000 Services,
// DestinationRules and VirtualServices fits in a small process; the
// webhook's tests index whole and viewed objects and expect the same
// verdicts.
func InventoryView(raw map[string]any) map[string]any {
	md := mapAt(raw, "metadata")
	view := map[string]any{}
	for _, k := range []string{"name", "namespace", "resourceVersion", "uid"} {
		if v, ok := md[k]; ok {
			view[k] = v
		}
	}
	if v, ok := mapAt(md, "annotations")["networking.istio.io/exportTo"]; ok {
		view["annotations"] = map[string]any{"networking.istio.io/exportTo": v}
	}
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	keyed := kind
	if group, _, ok := strings.Cut(apiVersion, "/"); ok && group == GatewayAPIGroup {
		// Keyed apart: a Gateway API Gateway is not Istio's Gateway.
		keyed = GatewayAPIGroup + "/" + kind
	}
	spec, _ := raw["spec"].(map[string]any)
	return map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": view, "spec": viewSpec(keyed, spec)}
}

// keepKeys returns the listed keys of m.
func keepKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// keepEach applies f to every object of a list, leaving other items as they are.
func keepEach(v any, f func(map[string]any) map[string]any) any {
	items, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(items))
	for i, it := range items {
		if m, ok := it.(map[string]any); ok {
			out[i] = f(m)
		} else {
			out[i] = it
		}
	}
	return out
}

func viewSpec(kind string, spec map[string]any) map[string]any {
	if spec == nil {
		return nil
	}
	switch kind {
	case KindService:
		out := keepKeys(spec, "selector")
		if ports, ok := spec["ports"]; ok {
			out["ports"] = keepEach(ports, func(p map[string]any) map[string]any { return keepKeys(p, "name", "port", "protocol") })
		}
		return out
	case KindServiceEntry:
		out := keepKeys(spec, "hosts", "exportTo")
		if ports, ok := spec["ports"]; ok {
			out["ports"] = keepEach(ports, func(p map[string]any) map[string]any { return keepKeys(p, "name", "number", "protocol") })
		}
		return out
	case KindDestinationRule:
		out := keepKeys(spec, "host", "exportTo")
		if subsets, ok := spec["subsets"]; ok {
			out["subsets"] = keepEach(subsets, func(s map[string]any) map[string]any { return keepKeys(s, "name", "labels") })
		}
		return out
	case KindGateway:
		out := keepKeys(spec, "selector")
		if servers, ok := spec["servers"]; ok {
			out["servers"] = keepEach(servers, func(s map[string]any) map[string]any { return keepKeys(s, "name", "port", "hosts") })
		}
		return out
	case GatewayAPIGroup + "/" + KindGateway:
		if listeners, ok := spec["listeners"]; ok {
			return map[string]any{"listeners": keepEach(listeners, func(l map[string]any) map[string]any {
				return keepKeys(l, "name", "port", "protocol", "allowedRoutes")
			})}
		}
		return map[string]any{}
	case GatewayAPIGroup + "/" + KindHTTPRoute, GatewayAPIGroup + "/" + KindGRPCRoute:
		out := keepKeys(spec, "parentRefs")
		if rules, ok := spec["rules"]; ok {
			out["rules"] = keepEach(rules, func(r map[string]any) map[string]any { return keepKeys(r, "backendRefs") })
		}
		return out
	case KindVirtualService:
		out := keepKeys(spec, "hosts", "gateways", "exportTo")
		for _, k := range []string{"http", "tcp", "tls"} {
			if routes, ok := spec[k]; ok {
				out[k] = keepEach(routes, viewRoute)
			}
		}
		return out
	}
	return spec
}

func viewRoute(r map[string]any) map[string]any {
	out := keepKeys(r, "route", "mirror", "mirrors")
	if matches, ok := r["match"]; ok {
		out["match"] = keepEach(matches, func(m map[string]any) map[string]any { return keepKeys(m, "gateways") })
	}
	return out
}
