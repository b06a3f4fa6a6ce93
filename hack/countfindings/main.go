// Command countfindings reads `kubectl mesh validate -o json` on stdin and
// prints how many findings of each code it holds.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

func main() {
	var report struct {
		Findings []struct {
			Code string `json:"code"`
		} `json:"findings"`
		Resources int `json:"resources"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&report); err != nil {
		fmt.Fprintln(os.Stderr, "countfindings:", err)
		os.Exit(2)
	}
	counts := map[string]int{}
	for _, f := range report.Findings {
		counts[f.Code]++
	}
	codes := make([]string, 0, len(counts))
	for c := range counts {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Printf("%d resources, %d findings:", report.Resources, len(report.Findings))
	for _, c := range codes {
		fmt.Printf(" %s=%d", c, counts[c])
	}
	fmt.Println()
}
