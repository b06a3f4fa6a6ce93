package canary

import (
	"strings"
	"testing"
)

func mustWeights(t *testing.T, s string) Weights {
	t.Helper()
	w, err := ParseWeights(s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestParseWeights(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"v1=90,v2=10", "v1=90,v2=10", ""},
		{" v1 = 90 , v2=10 ,", "v1=90,v2=10", ""},
		{"v2=100", "v2=100", ""},
		{"v1=100,v2=0", "v1=100,v2=0", ""},
		{"v1=34,v2=33,v3=33", "v1=34,v2=33,v3=33", ""},
		{"v1=90,v2=20", "", "add up to 110, not 100"},
		{"v1=90", "", "add up to 90, not 100"},
		{"v1=110,v2=-10", "", "v1=110 is outside 0..100"},
		{"v1=50,v1=50", "", "subset v1 is given twice"},
		{"v1=ninety", "", `whole number of percent, not "ninety"`},
		{"v1=90.5,v2=9.5", "", "whole number"},
		{"v1:90", "", "is not SUBSET=PERCENT"},
		{"V_1=100", "", `subset name "V_1"`},
		{"", "", "none given"},
	}
	for _, tt := range tests {
		got, err := ParseWeights(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWeights(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseWeights(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		from string
		to   string
		by   int
		want string
	}{
		// The tutorial: 90/10, then 10 points at a time.
		{"v1=90,v2=10", "v2", 10, "v1=80,v2=20"},
		{"v1=20,v2=80", "v2", 10, "v1=10,v2=90"},
		{"v1=10,v2=90", "v2", 10, "v1=0,v2=100"},
		// Clamped at 100, never below 0.
		{"v1=5,v2=95", "v2", 10, "v1=0,v2=100"},
		{"v1=0,v2=100", "v2", 10, "v1=0,v2=100"},
		// A subset not in the route joins it.
		{"v1=100", "v2", 25, "v1=75,v2=25"},
		// Back the other way.
		{"v1=80,v2=20", "v1", 10, "v1=90,v2=10"},
		// Taken from the others in proportion: 50 and 30 give 10 as 6.25
		// and 3.75, rounded by largest remainder to 6 and 4.
		{"v1=50,v3=30,v2=20", "v2", 10, "v1=44,v3=26,v2=30"},
		// Equal remainders: the earlier subset gives the extra point.
		{"v1=50,v3=50", "v2", 5, "v1=47,v3=48,v2=5"},
		{"v1=1,v3=1,v2=98", "v2", 1, "v1=0,v3=1,v2=99"},
		// Zero-weight subsets give nothing.
		{"v1=0,v3=60,v2=40", "v2", 30, "v1=0,v3=30,v2=70"},
	}
	for _, tt := range tests {
		got := mustWeights(t, tt.from).Step(tt.to, tt.by)
		if got.String() != tt.want {
			t.Errorf("%s step --to %s --by %d = %s, want %s", tt.from, tt.to, tt.by, got, tt.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s step --to %s --by %d: %v", tt.from, tt.to, tt.by, err)
		}
	}
}

// Every step from every split keeps the total at 100 and every weight in
// 0..100.
func TestStepKeepsTotal(t *testing.T) {
	for a := 0; a <= 100; a += 7 {
		for b := 0; a+b <= 100; b += 11 {
			from := Weights{{"v1", a}, {"v2", b}, {"v3", 100 - a - b}}
			for by := 1; by <= 100; by += 9 {
				got := from.Step("v2", by)
				if err := got.Validate(); err != nil {
					t.Fatalf("%s step --to v2 --by %d = %s: %v", from, by, got, err)
				}
				if want := min(100, b+by); got.Of("v2") != want {
					t.Fatalf("%s step --to v2 --by %d = %s: v2 should be %d", from, by, got, want)
				}
			}
		}
	}
}

func TestPromote(t *testing.T) {
	tests := []struct{ from, to, want string }{
		{"v1=80,v2=20", "v2", "v1=0,v2=100"},
		{"v1=100", "v2", "v1=0,v2=100"},
		{"v1=50,v2=30,v3=20", "v3", "v1=0,v2=0,v3=100"},
	}
	for _, tt := range tests {
		if got := mustWeights(t, tt.from).Promote(tt.to); got.String() != tt.want {
			t.Errorf("%s promote %s = %s, want %s", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestEqual(t *testing.T) {
	if !mustWeights(t, "v1=90,v2=10").Equal(mustWeights(t, "v2=10,v1=90,v3=0")) {
		t.Error("order and zero entries should not matter")
	}
	if mustWeights(t, "v1=90,v2=10").Equal(mustWeights(t, "v1=80,v2=20")) {
		t.Error("different splits compare equal")
	}
	if (Weights{{"", 100}}).String() != "(all)=100" {
		t.Error("a destination without subset should print as (all)")
	}
}

func TestApportion(t *testing.T) {
	tests := []struct {
		total   int
		weights []int
		want    []int
	}{
		{10, []int{90}, []int{10}},
		{10, []int{50, 30}, []int{6, 4}},
		{3, []int{1, 1, 1}, []int{1, 1, 1}},
		{2, []int{1, 1, 1}, []int{1, 1, 0}},
		{0, []int{5, 5}, []int{0, 0}},
		{5, []int{0, 0}, []int{0, 0}},
		{7, []int{3, 2, 2}, []int{3, 2, 2}},
	}
	for _, tt := range tests {
		got := apportion(tt.total, tt.weights)
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("apportion(%d, %v) = %v, want %v", tt.total, tt.weights, got, tt.want)
				break
			}
		}
	}
}

func TestHistory(t *testing.T) {
	var h History
	for i := range MaxHistory + 3 {
		h = h.Push(HistoryEntry{Weights: Weights{{"v1", 100 - i}, {"v2", i}}})
	}
	if len(h) != MaxHistory {
		t.Fatalf("history holds %d entries, want %d", len(h), MaxHistory)
	}
	if h[0].Weights.Of("v2") != 3 {
		t.Errorf("oldest kept entry should be v2=3, got %s", h[0].Weights)
	}
	h = h.Push(HistoryEntry{Route: "jason", Weights: Weights{{"v3", 100}}})
	rest, e, ok := h.Pop("")
	if !ok || e.Weights.Of("v2") != MaxHistory+2 || len(rest) != MaxHistory-1 {
		t.Errorf("Pop(default) = %s, %v, %d left", e.Weights, ok, len(rest))
	}
	if rest[len(rest)-1].Route != "jason" {
		t.Error("Pop removed another route's entry")
	}
	if _, _, ok := rest.Pop("other"); ok {
		t.Error("Pop of a route without entries succeeded")
	}
	parsed, err := ParseHistory(rest.String())
	if err != nil || len(parsed) != len(rest) || parsed[len(parsed)-1].Weights.String() != "v3=100" {
		t.Errorf("round trip: %v, %v", parsed, err)
	}
	if _, err := ParseHistory("{not json"); err == nil || !strings.Contains(err.Error(), HistoryAnnotation) {
		t.Errorf("ParseHistory of garbage: %v", err)
	}
}
