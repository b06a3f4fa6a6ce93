package meshgen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Cases returns n small fleets, each of 2-4 team namespaces besides
// istio-system and 4-15 Services with Gateway API routes among them,
// their seeds drawn from seed: case i of a seed is always the same mesh.
func Cases(seed uint64, n int, plantRate float64) []Fleet {
	r := rand.New(rand.NewPCG(seed, 0x6361736573))
	out := make([]Fleet, n)
	for i := range out {
		out[i] = Fleet{Seed: r.Uint64(), Services: 4 + r.IntN(12), Namespaces: 2 + r.IntN(3), PlantRate: plantRate, Routes: true}
	}
	return out
}

// CaseHeader is the comment that leads a case file, naming the fleet so
// that it can be written again on its own.
func CaseHeader(i int, f Fleet) string {
	return fmt.Sprintf("# meshgen case %04d: seed %d, %d Services in %d team namespaces, plant rate %g\n"+
		"# genmesh -mode realistic -seed %d -services %d -namespaces %d -plant-rate %g -routes=%t\n",
		i, f.Seed, f.Services, f.Namespaces, f.PlantRate, f.Seed, f.Services, f.Namespaces, f.PlantRate, f.Routes)
}

// WriteCases writes the fleets of Cases to dir as case-0001.yaml ...,
// each a multi-document YAML led by its CaseHeader, and returns the
// planted counts summed over the cases.
func WriteCases(dir string, seed uint64, n int, plantRate float64) (map[string]int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	total := map[string]int{}
	for i, f := range Cases(seed, n, plantRate) {
		planted, err := writeCase(filepath.Join(dir, fmt.Sprintf("case-%04d.yaml", i+1)), i+1, f)
		if err != nil {
			return nil, err
		}
		for code, c := range planted {
			total[code] += c
		}
	}
	return total, nil
}

func writeCase(path string, i int, f Fleet) (map[string]int, error) {
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if _, err := file.WriteString(CaseHeader(i, f)); err != nil {
		file.Close()
		return nil, err
	}
	planted, err := WriteFleet(file, f)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return planted, err
}
