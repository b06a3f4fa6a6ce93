// Command genmesh writes synthetic meshes: the template mesh the validate
// benchmark reads (-mode template), or seeded fleets shaped like real ones
// (-mode realistic), one file or -cases N small ones in a directory.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

func main() {
	var s meshgen.Spec
	flag.IntVar(&s.Services, "services", 10000, "number of Services")
	flag.IntVar(&s.Namespaces, "namespaces", 100, "number of namespaces (realistic: team namespaces besides istio-system)")
	flag.IntVar(&s.ErrorEvery, "error-every", 50, "template: plant an error in every n-th VirtualService")
	mode := flag.String("mode", "template", "template (one template per Service) or realistic (a seeded fleet)")
	seed := flag.Uint64("seed", 1, "realistic: seed of every random choice")
	rate := flag.Float64("plant-rate", 0.02, "realistic: chance that a VirtualService or DestinationRule gets a planted slip")
	cases := flag.Int("cases", 0, "realistic (implied): write N small meshes case-0001.yaml ... into the -o directory")
	out := flag.String("o", "-", "output file (with -cases: directory)")
	routes := flag.Bool("routes", false, "realistic: add Gateway API Gateways, ReferenceGrants and HTTPRoutes (-cases always does)")
	flag.Parse()
	// -cases is a realistic-mode flag: it picks the mode unless -mode is given.
	modeSet := false
	flag.Visit(func(f *flag.Flag) { modeSet = modeSet || f.Name == "mode" })
	if *cases > 0 && !modeSet {
		*mode = "realistic"
	}
	if err := run(*mode, s, *seed, *rate, *routes, *cases, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genmesh:", err)
		os.Exit(1)
	}
}

func run(mode string, s meshgen.Spec, seed uint64, rate float64, routes bool, cases int, out string) error {
	if mode != "template" && mode != "realistic" {
		return fmt.Errorf("-mode must be template or realistic, not %q", mode)
	}
	if cases > 0 {
		if mode != "realistic" || out == "-" {
			return fmt.Errorf("-cases needs -mode realistic and -o DIR")
		}
		planted, err := meshgen.WriteCases(out, seed, cases, rate)
		if err == nil {
			fmt.Fprintln(os.Stderr, "planted:", planted)
		}
		return err
	}
	var w io.Writer = os.Stdout
	var file *os.File
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		file, w = f, f
	}
	var planted map[string]int
	var err error
	if mode == "realistic" {
		planted, err = meshgen.WriteFleet(w, meshgen.Fleet{Seed: seed, Services: s.Services, Namespaces: s.Namespaces, PlantRate: rate, Routes: routes})
	} else {
		planted, err = meshgen.Write(w, s)
	}
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "planted:", planted)
	return nil
}
