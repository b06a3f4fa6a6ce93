package meshgen

import (
	"bufio"
	"strconv"
	"strings"
)

// The realistic mode builds each object as a tree of these and writes it
// in block style, keys in the order given, so that output is byte for
// byte the same for a seed without depending on map iteration order.

// kv is one key of a mapping.
type kv struct {
	k string
	v any
}

// mapping is an ordered YAML mapping; list a sequence. Scalars are
// string, int and float64.
type (
	mapping []kv
	list    []any
)

// emitDocument writes one document, led by "---".
func emitDocument(w *bufio.Writer, doc mapping) {
	w.WriteString("---\n")
	emitMapping(w, doc, 0, false)
}

func emitMapping(w *bufio.Writer, m mapping, indent int, inline bool) {
	for i, e := range m {
		if i > 0 || !inline {
			writeIndent(w, indent)
		}
		w.WriteString(scalar(e.k))
		switch v := e.v.(type) {
		case mapping:
			if len(v) == 0 {
				w.WriteString(": {}\n")
				continue
			}
			w.WriteString(":\n")
			emitMapping(w, v, indent+2, false)
		case list:
			if len(v) == 0 {
				w.WriteString(": []\n")
				continue
			}
			w.WriteString(":\n")
			emitList(w, v, indent)
		default:
			w.WriteString(": ")
			w.WriteString(scalarValue(v))
			w.WriteByte('\n')
		}
	}
}

// emitList writes the items at the indentation of their key, the way
// kubectl prints manifests.
func emitList(w *bufio.Writer, l list, indent int) {
	for _, it := range l {
		writeIndent(w, indent)
		w.WriteString("- ")
		switch v := it.(type) {
		case mapping:
			if len(v) == 0 {
				w.WriteString("{}\n")
				continue
			}
			emitMapping(w, v, indent+2, true)
		default:
			w.WriteString(scalarValue(v))
			w.WriteByte('\n')
		}
	}
}

func writeIndent(w *bufio.Writer, n int) {
	for range n {
		w.WriteByte(' ')
	}
}

func scalarValue(v any) string {
	switch v := v.(type) {
	case string:
		return scalar(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case bool:
		return strconv.FormatBool(v)
	}
	panic("meshgen: unsupported YAML value")
}

// yamlWords are plain scalars YAML (1.1 or 1.2) reads as something other
// than a string.
var yamlWords = map[string]bool{
	"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
	"y": true, "n": true, "null": true, "~": true,
}

// scalar writes s plain when no YAML reader could take it for anything
// but that string, and double-quoted otherwise ("*", "5xx,reset", "true").
func scalar(s string) string {
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

func plain(s string) bool {
	if s == "" || yamlWords[strings.ToLower(s)] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '/':
			if i == 0 && c != '/' {
				return isDuration(s)
			}
		default:
			return false
		}
	}
	return true
}

// isDuration reports whether s is a duration like 5s or 2.5s, the only
// scalars starting with a digit written plain.
func isDuration(s string) bool {
	num := strings.TrimRight(s, "msh")
	if num == s || num == "" {
		return false
	}
	_, err := strconv.ParseFloat(num, 64)
	return err == nil && strings.Trim(num, "0123456789.") == ""
}
