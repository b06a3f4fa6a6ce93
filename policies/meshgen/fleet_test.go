package meshgen_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

func writeFleet(t *testing.T, f meshgen.Fleet) ([]byte, map[string]int) {
	t.Helper()
	var buf bytes.Buffer
	planted, err := meshgen.WriteFleet(&buf, f)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), planted
}

func parseFleet(t *testing.T, data []byte) []*policies.Object {
	t.Helper()
	objs, err := policies.Parse("fleet.yaml", data, "default")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestFleetDeterministic(t *testing.T) {
	for _, f := range []meshgen.Fleet{
		{Seed: 1, Services: 50, Namespaces: 4, PlantRate: 0.1},
		{Seed: 42, Services: 300, PlantRate: 0.02},
		{Seed: 7, Services: 5, Namespaces: 2},
	} {
		t.Run(fmt.Sprintf("seed%d", f.Seed), func(t *testing.T) {
			a, pa := writeFleet(t, f)
			b, pb := writeFleet(t, f)
			if !bytes.Equal(a, b) {
				t.Fatal("two writes of the same fleet differ")
			}
			if fmt.Sprint(pa) != fmt.Sprint(pb) {
				t.Fatalf("planted counts differ: %v and %v", pa, pb)
			}
			f.Seed++
			if c, _ := writeFleet(t, f); bytes.Equal(a, c) {
				t.Fatal("another seed wrote the same fleet")
			}
		})
	}
}

// TestFleetDocumentsParse decodes every document with yaml.v3 on its own
// and the whole stream with the project's loader.
func TestFleetDocumentsParse(t *testing.T) {
	data, _ := writeFleet(t, meshgen.Fleet{Seed: 3, Services: 400, Namespaces: 12, PlantRate: 0.05})
	docs := strings.Split(string(data), "---\n")[1:]
	kinds := map[string]int{}
	for i, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("document %d: %v\n%s", i+1, err, d)
		}
		kind, _ := m["kind"].(string)
		api, _ := m["apiVersion"].(string)
		switch kind {
		case "VirtualService", "DestinationRule", "Gateway", "ServiceEntry":
			if api != "networking.istio.io/v1" {
				t.Errorf("document %d: %s with apiVersion %q", i+1, kind, api)
			}
		case "Service", "Namespace", "Deployment":
		default:
			t.Errorf("document %d: unexpected kind %q", i+1, kind)
		}
		if meta, _ := m["metadata"].(map[string]any); meta["name"] == "" || meta["name"] == nil {
			t.Errorf("document %d: no name", i+1)
		}
		kinds[kind]++
	}
	objs := parseFleet(t, data)
	if len(objs) != len(docs) {
		t.Fatalf("loader read %d objects of %d documents", len(objs), len(docs))
	}
	for _, k := range []string{"Namespace", "Service", "Deployment", "Gateway", "ServiceEntry", "DestinationRule", "VirtualService"} {
		if kinds[k] == 0 {
			t.Errorf("no %s", k)
		}
	}
	if kinds["Service"] != 400 || kinds["Namespace"] != 13 {
		t.Errorf("%d Services in %d namespaces, want 400 in 13", kinds["Service"], kinds["Namespace"])
	}
}

// fleetObjects indexes a parsed fleet for the shape checks.
type fleetObjects struct {
	byKind   map[string][]*policies.Object
	services map[string]*policies.Object // namespace/name
}

func index(objs []*policies.Object) fleetObjects {
	x := fleetObjects{byKind: map[string][]*policies.Object{}, services: map[string]*policies.Object{}}
	for _, o := range objs {
		x.byKind[o.Kind()] = append(x.byKind[o.Kind()], o)
		if o.Kind() == "Service" {
			x.services[o.Namespace()+"/"+o.Name()] = o
		}
	}
	return x
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func field(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// num reads a number however the loader decoded it.
func num(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}

func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// serviceOf resolves a destination host written in namespace ns to a
// Service of the fleet, or nil.
func (x fleetObjects) serviceOf(host, ns string) *policies.Object {
	name, rest, found := strings.Cut(host, ".")
	if found {
		svcNS, ok := strings.CutSuffix(rest, ".svc.cluster.local")
		if !ok {
			return nil
		}
		ns = svcNS
	}
	return x.services[ns+"/"+name]
}

func TestFleetShape(t *testing.T) {
	data, _ := writeFleet(t, meshgen.Fleet{Seed: 11, Services: 600, Namespaces: 15, PlantRate: 0})
	x := index(parseFleet(t, data))

	count := func(name string, n int) {
		t.Helper()
		if n == 0 {
			t.Errorf("no %s", name)
		}
	}
	portCounts := map[int]int{}
	protocols := map[string]int{}
	exportedServices := 0
	for _, s := range x.byKind["Service"] {
		ports := list(s.Spec()["ports"])
		portCounts[len(ports)]++
		for _, p := range ports {
			name, _ := field(p, "name").(string)
			proto, _, _ := strings.Cut(name, "-")
			protocols[proto]++
		}
		if _, ok := s.Annotations()["networking.istio.io/exportTo"]; ok {
			exportedServices++
		}
	}
	for n := 1; n <= 3; n++ {
		count(fmt.Sprintf("Service with %d ports", n), portCounts[n])
	}
	if len(portCounts) != 3 {
		t.Errorf("port counts %v, want 1..3", portCounts)
	}
	for _, p := range []string{"http", "grpc", "tcp"} {
		count(p+" port", protocols[p])
	}
	count("Service with networking.istio.io/exportTo", exportedServices)

	drPlaces := map[string]int{}
	for _, d := range x.byKind["DestinationRule"] {
		host, _ := d.Spec()["host"].(string)
		svc := x.serviceOf(host, d.Namespace())
		if svc == nil {
			t.Errorf("DestinationRule %s/%s: host %s is no Service", d.Namespace(), d.Name(), host)
			continue
		}
		switch {
		case d.Namespace() == meshgen.RootNamespace:
			drPlaces["root"]++
		case d.Namespace() == svc.Namespace():
			drPlaces["host"]++
		default:
			drPlaces["client"]++
		}
		if d.Spec()["exportTo"] != nil {
			drPlaces["exportTo"]++
		}
		if d.Spec()["trafficPolicy"] != nil {
			drPlaces["trafficPolicy"]++
		}
		if n := len(list(d.Spec()["subsets"])); n < 1 || n > 4 {
			t.Errorf("DestinationRule %s/%s has %d subsets", d.Namespace(), d.Name(), n)
		}
	}
	for _, p := range []string{"root", "host", "client", "exportTo", "trafficPolicy"} {
		count("DestinationRule "+p, drPlaces[p])
	}

	seKinds := map[string]int{}
	for _, e := range x.byKind["ServiceEntry"] {
		for _, h := range strs(e.Spec()["hosts"]) {
			if strings.HasPrefix(h, "*.") {
				seKinds["wildcard"]++
				if e.Spec()["resolution"] != "NONE" {
					t.Errorf("ServiceEntry %s/%s: wildcard host with resolution %v", e.Namespace(), e.Name(), e.Spec()["resolution"])
				}
			} else {
				seKinds["exact"]++
			}
		}
		if e.Spec()["exportTo"] != nil {
			seKinds["exportTo"]++
		}
	}
	for _, k := range []string{"wildcard", "exact", "exportTo"} {
		count("ServiceEntry "+k, seKinds[k])
	}

	gwNamespaces := map[string]bool{}
	for _, g := range x.byKind["Gateway"] {
		gwNamespaces[g.Namespace()] = true
	}
	if !gwNamespaces[meshgen.RootNamespace] || len(gwNamespaces) < 2 {
		t.Errorf("Gateways in %v, want istio-system and team namespaces", gwNamespaces)
	}

	vsKinds := map[string]int{}
	for _, vs := range x.byKind["VirtualService"] {
		spec := vs.Spec()
		gws := strs(spec["gateways"])
		bound := len(gws) > 0
		switch {
		case slices.Contains(gws, "mesh"):
			vsKinds["gateway+mesh"]++
		case bound:
			vsKinds["gateway"]++
		case spec["tls"] != nil || strings.HasSuffix(strs(spec["hosts"])[0], ".example.com"):
			vsKinds["egress"]++
		default:
			vsKinds["mesh"]++
		}
		if spec["exportTo"] != nil {
			vsKinds["exportTo"]++
		}
		names := map[string]bool{}
		for i, r := range list(spec["http"]) {
			name, _ := field(r, "name").(string)
			if name == "" || names[name] {
				t.Errorf("VirtualService %s/%s: http[%d] name %q missing or repeated", vs.Namespace(), vs.Name(), i, name)
			}
			names[name] = true
			sum, dests := 0, list(field(r, "route"))
			if len(dests) > 1 {
				vsKinds["weighted"]++
			}
			for _, d := range dests {
				w, _ := num(field(d, "weight"))
				sum += w
				host, _ := field(d, "destination", "host").(string)
				svc := x.serviceOf(host, vs.Namespace())
				if strings.Contains(host, ".svc.") && svc != nil && svc.Namespace() != vs.Namespace() {
					vsKinds["cross-namespace"]++
				}
				if n, ok := num(field(d, "destination", "port", "number")); ok {
					vsKinds["port"]++
					if svc != nil && !slices.ContainsFunc(list(svc.Spec()["ports"]), func(p any) bool { m, _ := num(field(p, "port")); return m == n }) {
						t.Errorf("VirtualService %s/%s: port %d that %s lacks", vs.Namespace(), vs.Name(), n, host)
					}
				} else if bound && svc != nil && len(list(svc.Spec()["ports"])) > 1 {
					t.Errorf("VirtualService %s/%s: gateway route to %s, which has several ports, without a port", vs.Namespace(), vs.Name(), host)
				}
			}
			if len(dests) > 1 && sum != 100 {
				t.Errorf("VirtualService %s/%s: http[%d] weights add up to %d", vs.Namespace(), vs.Name(), i, sum)
			}
			for _, k := range []string{"mirror", "timeout", "retries", "fault", "match"} {
				if field(r, k) != nil {
					vsKinds[k]++
				}
			}
		}
	}
	for _, k := range []string{"mesh", "gateway", "gateway+mesh", "egress", "exportTo", "weighted", "cross-namespace", "port", "mirror", "timeout", "retries", "fault", "match"} {
		count("VirtualService "+k, vsKinds[k])
	}
	if len(x.byKind["Deployment"]) < len(x.byKind["Service"]) {
		t.Errorf("%d Deployments for %d Services", len(x.byKind["Deployment"]), len(x.byKind["Service"]))
	}
}

// planted returns the objects of a fleet carrying the planted annotation.
func planted(objs []*policies.Object) map[string][]*policies.Object {
	out := map[string][]*policies.Object{}
	for _, o := range objs {
		if code, ok := o.Annotations()[meshgen.PlantedAnnotation]; ok {
			out[code] = append(out[code], o)
		}
	}
	return out
}

func TestFleetPlantedCounts(t *testing.T) {
	for _, tc := range []struct {
		f    meshgen.Fleet
		none bool
	}{
		{f: meshgen.Fleet{Seed: 5, Services: 500, Namespaces: 10}, none: true},
		{f: meshgen.Fleet{Seed: 5, Services: 500, Namespaces: 10, PlantRate: 0.02}},
		{f: meshgen.Fleet{Seed: 9, Services: 300, Namespaces: 6, PlantRate: 0.3}},
	} {
		t.Run(fmt.Sprintf("seed%d-rate%g", tc.f.Seed, tc.f.PlantRate), func(t *testing.T) {
			data, counts := writeFleet(t, tc.f)
			got := planted(parseFleet(t, data))
			total := 0
			for code, n := range counts {
				total += n
				if len(got[code]) != n {
					t.Errorf("%s: %d annotated, %d counted", code, len(got[code]), n)
				}
				if !slices.Contains(meshgen.FleetCodes, code) {
					t.Errorf("unexpected code %s", code)
				}
			}
			for code, objs := range got {
				if counts[code] == 0 {
					t.Errorf("%s: %d annotated, none counted", code, len(objs))
				}
			}
			if tc.none != (total == 0) {
				t.Errorf("planted %v at rate %g", counts, tc.f.PlantRate)
			}
			if tc.f.PlantRate >= 0.3 {
				for _, code := range meshgen.FleetCodes {
					if counts[code] == 0 {
						t.Errorf("no %s planted in %v", code, counts)
					}
				}
			}
		})
	}
}

// TestFleetPlantedFound reviews small fleets with the validate engine, as
// `kubectl mesh validate` does, and checks that every planted object (for
// a DestinationRule: a VirtualService it broke) gets an error finding.
// Unplanted objects are not held to having none.
func TestFleetPlantedFound(t *testing.T) {
	ctx := context.Background()
	engine, err := policies.NewEngine(ctx, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []meshgen.Fleet{
		{Seed: 21, Services: 200, Namespaces: 8, PlantRate: 0.25},
		{Seed: 22, Services: 60, Namespaces: 3, PlantRate: 0.5},
	} {
		t.Run(fmt.Sprintf("seed%d", f.Seed), func(t *testing.T) {
			data, counts := writeFleet(t, f)
			objs := parseFleet(t, data)
			idx := policies.NewIndex("")
			var reviewed []*policies.Object
			for _, o := range objs {
				idx.Add(o)
				if o.IsIstioNetworking() {
					reviewed = append(reviewed, o)
				}
			}
			findings, err := engine.ReviewAll(ctx, reviewed, idx, 0)
			if err != nil {
				t.Fatal(err)
			}
			errorsOf := map[string][]string{} // kind/namespace/name -> codes
			for _, fd := range findings {
				if fd.IsError() {
					k := fd.Kind + "/" + fd.Namespace + "/" + fd.Name
					errorsOf[k] = append(errorsOf[k], fd.Code)
				}
			}
			brokenBy := map[string][]string{}
			for _, o := range objs {
				if by := o.Annotations()[meshgen.BrokenByAnnotation]; by != "" {
					brokenBy[by] = append(brokenBy[by], "VirtualService/"+o.Namespace()+"/"+o.Name())
				}
			}
			checked := 0
			for code, list := range planted(objs) {
				for _, o := range list {
					checked++
					detail := o.Annotations()[meshgen.PlantedDetailAnnotation]
					if o.Kind() == "DestinationRule" {
						found := false
						for _, vs := range brokenBy["DestinationRule "+o.Namespace()+"/"+o.Name()] {
							found = found || slices.Contains(errorsOf[vs], code)
						}
						if !found {
							t.Errorf("DestinationRule %s/%s planted %s (%s): no VirtualService it broke has that error", o.Namespace(), o.Name(), code, detail)
						}
						continue
					}
					if errs := errorsOf[o.Kind()+"/"+o.Namespace()+"/"+o.Name()]; len(errs) == 0 {
						t.Errorf("%s %s/%s planted %s (%s): no error finding", o.Kind(), o.Namespace(), o.Name(), code, detail)
					} else if !slices.Contains(errs, code) {
						t.Logf("%s %s/%s planted %s (%s): errors %v", o.Kind(), o.Namespace(), o.Name(), code, detail, errs)
					}
				}
			}
			if checked == 0 {
				t.Fatalf("nothing planted: %v", counts)
			}
			// And the converse: an object meant to work gets no error.
			meant := map[string]bool{}
			for _, o := range objs {
				a := o.Annotations()
				meant[o.Kind()+"/"+o.Namespace()+"/"+o.Name()] = a[meshgen.PlantedAnnotation] == "" && a[meshgen.BrokenByAnnotation] == ""
			}
			for k, codes := range errorsOf {
				if meant[k] {
					t.Errorf("%s is meant to work, but got errors %v", k, codes)
				}
			}
		})
	}
}

func TestWriteCases(t *testing.T) {
	dir := t.TempDir()
	total, err := meshgen.WriteCases(dir, 99, 12, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) != 12 || filepath.Base(files[0]) != "case-0001.yaml" || filepath.Base(files[11]) != "case-0012.yaml" {
		t.Fatalf("files %v", files)
	}
	fleets := meshgen.Cases(99, 12, 0.1)
	sum := map[string]int{}
	for i, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f := fleets[i]
		header := meshgen.CaseHeader(i+1, f)
		if !strings.HasPrefix(string(data), header) || !strings.Contains(header, fmt.Sprintf("seed %d", f.Seed)) {
			t.Errorf("%s: header %q", path, strings.SplitN(string(data), "\n", 2)[0])
		}
		// The case is the fleet its header names.
		alone, counts := writeFleet(t, f)
		if !bytes.Equal(data[len(header):], alone) {
			t.Errorf("%s differs from its fleet written alone", path)
		}
		for c, n := range counts {
			sum[c] += n
		}
		x := index(parseFleet(t, data))
		if n := len(x.byKind["Namespace"]); n < 3 || n > 5 {
			t.Errorf("%s: %d namespaces", path, n)
		}
		if n := len(x.byKind["Service"]); n < 4 || n > 15 {
			t.Errorf("%s: %d Services", path, n)
		}
	}
	if fmt.Sprint(sum) != fmt.Sprint(total) {
		t.Errorf("WriteCases counted %v, the cases %v", total, sum)
	}
}

// TestScalarQuoting checks that what is written plain reads back as the
// same string and that YAML's other types are quoted.
func TestScalarQuoting(t *testing.T) {
	data, _ := writeFleet(t, meshgen.Fleet{Seed: 2, Services: 200, Namespaces: 5})
	for _, s := range []string{`- "*.example.com"`, `exact: "true"`, `- "."`} {
		if !strings.Contains(string(data), s) {
			t.Errorf("no %s in the fleet", s)
		}
	}
}

// BenchmarkWriteFleet is the cost of writing the 10,000-Service fleet.
func BenchmarkWriteFleet(b *testing.B) {
	for b.Loop() {
		var buf bytes.Buffer
		if _, err := meshgen.WriteFleet(&buf, meshgen.Fleet{Seed: 1, Services: 10000, PlantRate: 0.02}); err != nil {
			b.Fatal(err)
		}
	}
}
