package meshgen

import (
	"bufio"
	"strconv"
)

const istioAPI = "networking.istio.io/v1"

func strList(s []string) list {
	out := make(list, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func object(apiVersion, kind, name, ns string, labels, annotations mapping) mapping {
	meta := mapping{{"name", name}}
	if ns != "" {
		meta = append(meta, kv{"namespace", ns})
	}
	if len(labels) > 0 {
		meta = append(meta, kv{"labels", labels})
	}
	if len(annotations) > 0 {
		meta = append(meta, kv{"annotations", annotations})
	}
	return mapping{{"apiVersion", apiVersion}, {"kind", kind}, {"metadata", meta}}
}

func plantedAnnotations(code, detail, brokenBy string) mapping {
	var a mapping
	if code != "" {
		a = append(a, kv{PlantedAnnotation, code}, kv{PlantedDetailAnnotation, detail})
	}
	if brokenBy != "" {
		a = append(a, kv{BrokenByAnnotation, brokenBy})
	}
	return a
}

func (g *fleetGen) emit(w *bufio.Writer) {
	emitDocument(w, object("v1", "Namespace", RootNamespace, "", nil, nil))
	for _, ns := range g.namespaces {
		emitDocument(w, object("v1", "Namespace", ns, "", mapping{{"istio-injection", "enabled"}}, nil))
	}
	for _, s := range g.services {
		emitDocument(w, serviceDoc(s))
	}
	for _, s := range g.services {
		for v := 1; v <= s.versions; v++ {
			emitDocument(w, deploymentDoc(s, v))
		}
	}
	for _, gw := range g.gateways {
		emitDocument(w, gatewayDoc(gw))
	}
	for _, e := range g.entries {
		emitDocument(w, serviceEntryDoc(e))
	}
	for _, d := range g.drs {
		emitDocument(w, destinationRuleDoc(d))
	}
	for _, vs := range g.vss {
		emitDocument(w, virtualServiceDoc(vs))
	}
}

func serviceDoc(s *service) mapping {
	var ann mapping
	if s.exportTo != "" {
		ann = mapping{{"networking.istio.io/exportTo", s.exportTo}}
	}
	ports := list{}
	for _, p := range s.ports {
		ports = append(ports, mapping{{"name", p.name}, {"port", p.number}, {"targetPort", p.number}})
	}
	doc := object("v1", "Service", s.name, s.ns, mapping{{"app", s.name}}, ann)
	return append(doc, kv{"spec", mapping{{"selector", mapping{{"app", s.name}}}, {"ports", ports}}})
}

func deploymentDoc(s *service, v int) mapping {
	version := "v" + strconv.Itoa(v)
	labels := mapping{{"app", s.name}, {"version", version}}
	ports := list{}
	for _, p := range s.ports {
		ports = append(ports, mapping{{"containerPort", p.number}})
	}
	container := mapping{
		{"name", s.name},
		{"image", "registry.example.com/" + s.ns + "/" + s.name + ":1." + strconv.Itoa(v) + ".0"},
		{"ports", ports},
	}
	doc := object("apps/v1", "Deployment", s.name+"-"+version, s.ns, labels, nil)
	return append(doc, kv{"spec", mapping{
		{"replicas", 1},
		{"selector", mapping{{"matchLabels", labels}}},
		{"template", mapping{
			{"metadata", mapping{{"labels", labels}}},
			{"spec", mapping{{"containers", list{container}}}},
		}},
	}})
}

func gatewayDoc(gw *gateway) mapping {
	servers := list{mapping{
		{"port", mapping{{"number", 80}, {"name", "http"}, {"protocol", "HTTP"}}},
		{"hosts", strList(gw.hosts)},
	}}
	if len(gw.https) > 0 {
		servers = append(servers, mapping{
			{"port", mapping{{"number", 443}, {"name", "https"}, {"protocol", "HTTPS"}}},
			{"hosts", strList(gw.https)},
			{"tls", mapping{{"mode", "SIMPLE"}, {"credentialName", gw.cred}}},
		})
	}
	doc := object(istioAPI, "Gateway", gw.name, gw.ns, nil, nil)
	return append(doc, kv{"spec", mapping{
		{"selector", mapping{{"istio", "ingressgateway"}}},
		{"servers", servers},
	}})
}

func serviceEntryDoc(e *serviceEntry) mapping {
	spec := mapping{{"hosts", list{e.host}}}
	if len(e.exportTo) > 0 {
		spec = append(spec, kv{"exportTo", strList(e.exportTo)})
	}
	ports := list{}
	for _, p := range e.ports {
		ports = append(ports, mapping{{"number", p.number}, {"name", p.name}, {"protocol", p.protocol}})
	}
	spec = append(spec, kv{"location", "MESH_EXTERNAL"}, kv{"ports", ports}, kv{"resolution", e.resolution})
	return append(object(istioAPI, "ServiceEntry", e.name, e.ns, nil, nil), kv{"spec", spec})
}

func destinationRuleDoc(d *destRule) mapping {
	spec := mapping{{"host", d.host}}
	if len(d.exportTo) > 0 {
		spec = append(spec, kv{"exportTo", strList(d.exportTo)})
	}
	if len(d.policy) > 0 {
		spec = append(spec, kv{"trafficPolicy", d.policy})
	}
	if len(d.subsets) > 0 {
		subsets := list{}
		for _, s := range d.subsets {
			subsets = append(subsets, mapping{{"name", s}, {"labels", mapping{{"version", s}}}})
		}
		spec = append(spec, kv{"subsets", subsets})
	}
	doc := object(istioAPI, "DestinationRule", d.name, d.ns, nil, plantedAnnotations(d.planted, d.detail, ""))
	return append(doc, kv{"spec", spec})
}

func destinationDoc(d *dest) mapping {
	m := mapping{{"host", d.host}}
	if d.subset != "" {
		m = append(m, kv{"subset", d.subset})
	}
	if d.port != 0 {
		m = append(m, kv{"port", mapping{{"number", d.port}}})
	}
	return m
}

func virtualServiceDoc(vs *virtualService) mapping {
	spec := mapping{{"hosts", strList(vs.hosts)}}
	if len(vs.gateways) > 0 {
		spec = append(spec, kv{"gateways", strList(vs.gateways)})
	}
	if len(vs.exportTo) > 0 {
		spec = append(spec, kv{"exportTo", strList(vs.exportTo)})
	}
	var httpRoutes, tlsRoutes list
	for _, r := range vs.routes {
		route := list{}
		for _, d := range r.dests {
			rd := mapping{{"destination", destinationDoc(d)}}
			if d.weight != 0 {
				rd = append(rd, kv{"weight", d.weight})
			}
			route = append(route, rd)
		}
		if r.tlsPort > 0 {
			match := list{mapping{{"port", r.tlsPort}, {"sniHosts", list{vs.hosts[0]}}}}
			tlsRoutes = append(tlsRoutes, mapping{{"match", match}, {"route", route}})
			continue
		}
		m := mapping{{"name", r.name}}
		if r.match != nil {
			m = append(m, kv{"match", r.match})
		}
		m = append(m, kv{"route", route})
		if r.mirror != nil {
			m = append(m, kv{"mirror", destinationDoc(r.mirror)})
		}
		httpRoutes = append(httpRoutes, append(m, r.extra...))
	}
	if len(httpRoutes) > 0 {
		spec = append(spec, kv{"http", httpRoutes})
	}
	if len(tlsRoutes) > 0 {
		spec = append(spec, kv{"tls", tlsRoutes})
	}
	doc := object(istioAPI, "VirtualService", vs.name, vs.ns, nil, plantedAnnotations(vs.planted, vs.detail, vs.brokenBy))
	return append(doc, kv{"spec", spec})
}
