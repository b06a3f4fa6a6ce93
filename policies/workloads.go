package policies

// workloadSet holds the pod labels of one namespace's workloads (Pods and
// pod templates) by name, and the names by label pair: counting the
// workloads a subset selects then visits only those sharing its rarest
// label, not every workload of the namespace (a namespace of a large
// fleet holds hundreds, and every subset of every host is counted).
type workloadSet struct {
	byName map[string]map[string]string // kind/name -> labels
	// byPair lists names by label: a slice, not a set, as most pairs
	// have one or two workloads and a fleet has many pairs.
	byPair map[labelPair][]string
}

type labelPair struct{ key, value string }

func newWorkloadSet() *workloadSet {
	return &workloadSet{byName: map[string]map[string]string{}, byPair: map[labelPair][]string{}}
}

func (w *workloadSet) add(name string, labels map[string]string) {
	w.remove(name)
	w.byName[name] = labels
	for k, v := range labels {
		p := labelPair{k, v}
		w.byPair[p] = append(w.byPair[p], name)
	}
}

func (w *workloadSet) remove(name string) {
	labels, ok := w.byName[name]
	if !ok {
		return
	}
	delete(w.byName, name)
	for k, v := range labels {
		p := labelPair{k, v}
		names := w.byPair[p]
		for i, n := range names {
			if n == name {
				names[i] = names[len(names)-1]
				names = names[:len(names)-1]
				break
			}
		}
		if len(names) == 0 {
			delete(w.byPair, p)
		} else {
			w.byPair[p] = names
		}
	}
}

// count counts the workloads whose labels include every selector's.
func (w *workloadSet) count(selectors []map[string]string) int {
	var rarest []string
	seen := false
	for _, sel := range selectors {
		for k, v := range sel {
			names := w.byPair[labelPair{k, v}]
			if len(names) == 0 {
				return 0
			}
			if !seen || len(names) < len(rarest) {
				rarest, seen = names, true
			}
		}
	}
	if !seen {
		return len(w.byName)
	}
	n := 0
	for _, name := range rarest {
		if selectsAll(selectors, w.byName[name]) {
			n++
		}
	}
	return n
}

func selectsAll(selectors []map[string]string, labels map[string]string) bool {
	for _, sel := range selectors {
		if !selects(sel, labels) {
			return false
		}
	}
	return true
}
