package policies

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestKeeperKeepsErrorsFirst(t *testing.T) {
	e, w := Finding{Severity: SeverityError}, Finding{Severity: SeverityWarning}
	for _, tc := range []struct {
		name       string
		limit      int
		in         []Finding
		kept, errs int
		omitted    Omitted
		wantFull   bool
	}{
		{"no limit keeps all", 0, []Finding{w, e, w, e}, 4, 2, Omitted{}, false},
		{"under the limit", 5, []Finding{w, e}, 2, 1, Omitted{}, false},
		{"errors replace warnings", 2, []Finding{w, w, e, e}, 2, 2, Omitted{Findings: 2}, true},
		{"errors beyond the limit are counted", 2, []Finding{e, e, e, w}, 2, 2, Omitted{Findings: 2, Errors: 1}, true},
		{"warnings only", 2, []Finding{w, w, w}, 2, 0, Omitted{Findings: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &keeper{limit: tc.limit}
			for _, f := range tc.in {
				k.add(f)
			}
			errs := 0
			for _, f := range k.out {
				if f.IsError() {
					errs++
				}
			}
			if len(k.out) != tc.kept || errs != tc.errs || k.omitted != tc.omitted || k.full() != tc.wantFull {
				t.Errorf("kept %d (%d errors), omitted %+v, full %v; want %d (%d), %+v, %v", len(k.out), errs, k.omitted, k.full(), tc.kept, tc.errs, tc.omitted, tc.wantFull)
			}
		})
	}
}

// TestReviewLimit reviews a VirtualService with many missing hosts: the
// limited review keeps the limit and counts the rest.
func TestReviewLimit(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for i := range 30 {
		routes = append(routes, fmt.Sprintf(`{"route":[{"destination":{"host":"missing-%d"}}]}`, i))
	}
	raw := `{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"big","namespace":"default"},"spec":{"hosts":["big"],"http":[` + strings.Join(routes, ",") + `]}}`
	m, err := DecodeJSONObject([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := Review{Operation: OperationCreate, Object: NewObject(m, Source{})}
	all, err := e.Review(context.Background(), r, NewIndex(""))
	if err != nil || len(all) < 30 {
		t.Fatalf("unlimited: %d findings, %v", len(all), err)
	}
	outcome, err := e.Check(context.Background(), Change{Reviews: []Review{r}, Inventory: NewIndex(""), Limit: 10})
	kept, omitted := outcome.Findings, outcome.Omitted
	if err != nil || len(kept) != 10 || omitted.Findings != len(all)-10 {
		t.Fatalf("limited: kept %d, omitted %+v of %d, %v", len(kept), omitted, len(all), err)
	}
}
