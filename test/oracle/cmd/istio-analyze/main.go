// Command istio-analyze runs what `istioctl analyze --use-kube=false -A
// FILE...` runs, built from the same istio module as the oracle: every
// analyzer of Istio over the files, with Istio's default resources. It
// prints the number of messages by level, and exists to measure
// kubectl-mesh validate beside istioctl on the same files
// (docs/BENCHMARKS.md).
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	"istio.io/istio/pkg/log"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "istio-analyze:", err)
		os.Exit(1)
	}
}

func run(files []string, out io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("usage: istio-analyze FILE...")
	}
	for _, s := range log.Scopes() {
		s.SetOutputLevel(log.NoneLevel)
	}
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), "", resource.Namespace("istio-system"), nil)
	if err := sa.AddDefaultResources(); err != nil {
		return fmt.Errorf("adding Istio's default resources: %w", err)
	}
	var readers []local.ReaderSource
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		readers = append(readers, local.ReaderSource{Name: name, Reader: f})
	}
	if err := sa.AddReaderKubeSource(readers); err != nil {
		return fmt.Errorf("reading files: %w", err)
	}
	cancel := make(chan struct{})
	result, err := sa.Analyze(cancel)
	if err != nil {
		return fmt.Errorf("analyzing: %w", err)
	}
	byLevel := map[string]int{}
	for _, m := range result.Messages {
		byLevel[m.Type.Level().String()]++
	}
	levels := make([]string, 0, len(byLevel))
	for l := range byLevel {
		levels = append(levels, l)
	}
	sort.Strings(levels)
	for _, l := range levels {
		fmt.Fprintf(out, "%s\t%d\n", l, byLevel[l])
	}
	return nil
}
