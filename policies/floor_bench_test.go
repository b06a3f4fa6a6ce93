package policies

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// floorPolicy is the least Rego could do for the generated mesh: four of
// the checks, over facts Go has already reduced to lookups (a route's
// total weight, a host's subsets and ports as sets), for every
// VirtualService of one input at once, with no messages. It is not a
// policy of kubectl-mesh; BenchmarkBatchFloor measures it to show what
// evaluating Rego at all costs for 10,000 VirtualServices (see
// docs/BENCHMARKS.md).
const floorPolicy = `package floor

findings contains [i, "MESH0104"] if {
	some i, vs in input.objects
	some route in vs.routes
	route.destinations > 1
	route.total != 100
}

findings contains [i, "MESH0201"] if {
	some i, vs in input.objects
	some d in vs.destinations
	not input.hosts[d.host].resolved
}

findings contains [i, "MESH0301"] if {
	some i, vs in input.objects
	some d in vs.destinations
	d.port != ""
	not input.hosts[d.host].ports[d.port]
}

findings contains [i, "MESH0401"] if {
	some i, vs in input.objects
	some d in vs.destinations
	d.subset != ""
	not input.hosts[d.host].subsets[d.subset]
}
`

// BenchmarkBatchFloor evaluates floorPolicy over 10,000 VirtualServices
// shaped like the generated mesh's (a header-match route to v1 and a
// 90/10 split, one error every 50th), in one evaluation ("one-core") and
// in two halves on two goroutines ("two-cores"). Converting the input to
// OPA's values is left out of the timing.
func BenchmarkBatchFloor(b *testing.B) {
	const services = 10000
	objects := make([]any, services)
	hosts := map[string]any{}
	for i := range services {
		host := fmt.Sprintf("svc-%d.ns-%d.svc.cluster.local", i, i%100)
		hosts[host] = map[string]any{
			"resolved": true,
			"ports":    map[string]any{"9080": true},
			"subsets":  map[string]any{"v1": true, "v2": true},
		}
		canary := "v2"
		if i%50 == 0 {
			canary = "v3"
		}
		objects[i] = map[string]any{
			"routes": []any{
				map[string]any{"destinations": 1, "total": 100},
				map[string]any{"destinations": 2, "total": 100},
			},
			"destinations": []any{
				map[string]any{"host": host, "subset": "v1", "port": "9080"},
				map[string]any{"host": host, "subset": "v1", "port": "9080"},
				map[string]any{"host": host, "subset": canary, "port": "9080"},
			},
		}
	}
	ctx := context.Background()
	query, err := rego.New(rego.Query("data.floor.findings"), rego.Module("floor.rego", floorPolicy)).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	inputOf := func(objs []any) ast.Value {
		v, err := ast.InterfaceToValue(map[string]any{"objects": objs, "hosts": hosts})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	eval := func(input ast.Value) int {
		rs, err := query.Eval(ctx, rego.EvalParsedInput(input))
		if err != nil {
			b.Error(err)
			return 0
		}
		return len(rs[0].Expressions[0].Value.([]any))
	}
	b.Run("one-core", func(b *testing.B) {
		input := inputOf(objects)
		b.ResetTimer()
		defer reportCPU(b)()
		for range b.N {
			if n := eval(input); n != services/50 {
				b.Fatalf("%d findings, want %d", n, services/50)
			}
		}
	})
	b.Run("two-cores", func(b *testing.B) {
		halves := []ast.Value{inputOf(objects[:services/2]), inputOf(objects[services/2:])}
		b.ResetTimer()
		defer reportCPU(b)()
		for range b.N {
			var wg sync.WaitGroup
			found := make([]int, len(halves))
			for i, input := range halves {
				wg.Go(func() { found[i] = eval(input) })
			}
			wg.Wait()
			if n := found[0] + found[1]; n != services/50 {
				b.Fatalf("%d findings, want %d", n, services/50)
			}
		}
	})
}
