// Command genmesh writes the synthetic mesh the validate benchmark reads.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

func main() {
	var s meshgen.Spec
	flag.IntVar(&s.Services, "services", 10000, "number of Services")
	flag.IntVar(&s.Namespaces, "namespaces", 100, "number of namespaces")
	flag.IntVar(&s.ErrorEvery, "error-every", 50, "plant an error in every n-th VirtualService")
	out := flag.String("o", "-", "output file")
	flag.Parse()
	w := os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	planted, err := meshgen.Write(w, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "planted:", planted)
}
