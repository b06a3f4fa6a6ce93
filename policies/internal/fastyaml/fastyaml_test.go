package fastyaml

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kubectl-mesh/kubectl-mesh/policies/meshgen"
)

// Shorthands for expected values.
type (
	fm = map[string]any
	fl = []any
)

func TestDecodeFastSubset(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  any
		line  int
		items []int
	}{
		{"empty", "", nil, 0, nil},
		{"blank lines", "\n  \n\n", nil, 0, nil},
		{"comments only", "# a\n  # b\n\n#c", nil, 0, nil},
		{"scalar root", "hello\n", "hello", 1, nil},
		{"null root", "# c\n~\n", nil, 2, nil},
		{"simple mapping", "a: 1\nb: two\n", fm{"a": int64(1), "b": "two"}, 1, nil},
		{"leading comments", "# head\n\n# more\napiVersion: v1\nkind: Pod\n", fm{"apiVersion": "v1", "kind": "Pod"}, 4, nil},
		{"indented root", "  a: 1\n  b: 2\n", fm{"a": int64(1), "b": int64(2)}, 1, nil},
		{"nested", "metadata:\n  name: x\n  labels:\n    app: y\n", fm{"metadata": fm{"name": "x", "labels": fm{"app": "y"}}}, 1, nil},
		{"empty values", "a:\nb:   \nc: # note\nd: ~\n", fm{"a": nil, "b": nil, "c": nil, "d": nil}, 1, nil},
		{"sequence", "- a\n- b\n-\n- 3\n", fl{"a", "b", nil, int64(3)}, 1, nil},
		{"indentless sequence", "ports:\n- 80\n- 443\nname: x\n", fm{"ports": fl{int64(80), int64(443)}, "name": "x"}, 1, nil},
		{"indented sequence", "ports:\n  - 80\n  - 443\n", fm{"ports": fl{int64(80), int64(443)}}, 1, nil},
		{"compact mappings", "ports:\n- name: http\n  port: 80\n- name: https\n  port: 443\n",
			fm{"ports": fl{fm{"name": "http", "port": int64(80)}, fm{"name": "https", "port": int64(443)}}}, 1, nil},
		{"nested sequences", "- - a\n  - b\n- - c\n", fl{fl{"a", "b"}, fl{"c"}}, 1, nil},
		{"entry on next line", "-\n  a: 1\n- # c\n  b\n", fl{fm{"a": int64(1)}, "b"}, 1, nil},
		{"sequence under compact mapping", "- a:\n  - 1\n  b: 2\n", fl{fm{"a": fl{int64(1)}, "b": int64(2)}}, 1, nil},
		{"value on next line", "a:\n  text\nb:\n  [1, 2]\n", fm{"a": "text", "b": fl{int64(1), int64(2)}}, 1, nil},
		{"comments everywhere", "a: 1 # one\n# between\nb:\n  # inside\n  - x # ex\n    # deeper\n  - y\n#end",
			fm{"a": int64(1), "b": fl{"x", "y"}}, 1, nil},
		{"plain scalars", "a: hello world\nb: http://x.y/z?q=1#frag\nc: a#b\nd: -x\ne: :x\nf: key:value\ng: a  b   \n",
			fm{"a": "hello world", "b": "http://x.y/z?q=1#frag", "c": "a#b", "d": "-x", "e": ":x", "f": "key:value", "g": "a  b"}, 1, nil},
		{"key forms", "a b: 1\n\"q\": 2\n'r': 3\ns  : 4\n1: 5\nnull: 6\ntrue: 7\n\"\": 8\n",
			fm{"a b": int64(1), "q": int64(2), "r": int64(3), "s": int64(4), "1": int64(5), "null": int64(6), "true": int64(7), "": int64(8)}, 1, nil},
		{"booleans and nulls", "a: true\nb: False\nc: TRUE\nd: null\ne: Null\nf: NULL\ng: ~\nh: yes\ni: no\nj: on\nk: off\nl: y\n",
			fm{"a": true, "b": false, "c": true, "d": nil, "e": nil, "f": nil, "g": nil, "h": "yes", "i": "no", "j": "on", "k": "off", "l": "y"}, 1, nil},
		{"integers", "a: 0\nb: -12\nc: +7\nd: 0x1F\ne: 0o17\nf: 9223372036854775807\ng: 18446744073709551615\nh: -0\n",
			fm{"a": int64(0), "b": int64(-12), "c": int64(7), "d": int64(31), "e": int64(15), "f": int64(9223372036854775807), "g": uint64(18446744073709551615), "h": int64(0)}, 1, nil},
		{"floats", "a: 1.5\nb: 1e3\nc: .5\nd: -.5\ne: -2.5E-3\nf: 1.\n",
			fm{"a": 1.5, "b": 1000.0, "c": 0.5, "d": -0.5, "e": -2.5e-3, "f": 1.0}, 1, nil},
		{"number-like strings", "a: 1.2.3\nb: 10s\nc: 2001-12-14\nd: 1:30\ne: 0.0.0.0/0\nf: 3Gi\ng: 100m\nh: +\ni: 1e999\n",
			fm{"a": "1.2.3", "b": "10s", "c": "2001-12-14", "d": "1:30", "e": "0.0.0.0/0", "f": "3Gi", "g": "100m", "h": "+", "i": "1e999"}, 1, nil},
		{"single quotes", "a: 'it''s'\nb: ''\nc: 'a: b # c'\nd: '1'\n", fm{"a": "it's", "b": "", "c": "a: b # c", "d": "1"}, 1, nil},
		{"double quotes", `a: "x\"y\\z"` + "\n" + `b: "\n\t\u00e9\x41\U0001F600"` + "\n" + `c: "true"` + "\nd: \"\" # e\n",
			fm{"a": `x"y\z`, "b": "\n\té\x41\U0001F600", "c": "true", "d": ""}, 1, nil},
		{"flow sequences", "a: []\nb: [1, two, \"3\", 'f']\nc: [[a, b], {x: 1}]\nd: [a,b]\ne: [a, b, ]\n",
			fm{"a": fl{}, "b": fl{int64(1), "two", "3", "f"}, "c": fl{fl{"a", "b"}, fm{"x": int64(1)}}, "d": fl{"a", "b"}, "e": fl{"a", "b"}}, 1, nil},
		{"flow mappings", "a: {}\nb: {x: 1, \"y\": two, z: [1]}\nc: {\"k\":v}\nd: {a: {b: {c: d}}} # deep\n",
			fm{"a": fm{}, "b": fm{"x": int64(1), "y": "two", "z": fl{int64(1)}}, "c": fm{"k": "v"}, "d": fm{"a": fm{"b": fm{"c": "d"}}}}, 1, nil},
		{"flow root", "{items: [a, b]}\n", fm{"items": fl{"a", "b"}}, 1, []int{1, 1}},
		{"CRLF", "a: 1\r\nb:\r\n- x\r\n- 'y'\r\n", fm{"a": int64(1), "b": fl{"x", "y"}}, 1, nil},
		{"no final newline", "a: b", fm{"a": "b"}, 1, nil},
		{"unicode", "name: héllo wörld ✓\nemoji: \"😀\"\n", fm{"name": "héllo wörld ✓", "emoji": "😀"}, 1, nil},
		{"list items", "# list\napiVersion: v1\nkind: List\nitems:\n- kind: A\n  apiVersion: v1\n\n- # comment\n  kind: B\n-\n- kind: C\n",
			fm{"apiVersion": "v1", "kind": "List", "items": fl{fm{"kind": "A", "apiVersion": "v1"}, fm{"kind": "B"}, nil, fm{"kind": "C"}}}, 2, []int{5, 9, 10, 11}},
		{"items indented", "items:\n  - a\n  - b\n", fm{"items": fl{"a", "b"}}, 1, []int{2, 3}},
		{"items flow", "kind: List\nitems: [a, b]\n", fm{"kind": "List", "items": fl{"a", "b"}}, 1, []int{2, 2}},
		{"items empty", "items: []\n", fm{"items": fl{}}, 1, nil},
		{"items not a list", "items: x\n", fm{"items": "x"}, 1, nil},
		{"nested items ignored", "spec:\n  items:\n  - a\n", fm{"spec": fm{"items": fl{"a"}}}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, line, items, ok := Decode([]byte(tt.in))
			if !ok {
				t.Fatalf("Decode(%q) bailed out", tt.in)
			}
			if !reflect.DeepEqual(v, tt.want) || line != tt.line || !reflect.DeepEqual(items, tt.items) {
				t.Errorf("Decode(%q)\n got %#v line %d items %v\nwant %#v line %d items %v", tt.in, v, line, items, tt.want, tt.line, tt.items)
			}
			checkFastMatchesYAML(t, []byte(tt.in))
		})
	}
}

func TestDecodeFastBailsOut(t *testing.T) {
	for _, in := range []string{
		"a: &x 1\nb: *x\n",         // anchors and aliases
		"a: !!str 1\n",             // tags
		"a: !custom x\n",           // local tags
		"a: |\n  text\n",           // literal block scalar
		"a: >-\n  text\n",          // folded block scalar
		"a: plain\n  continued\n",  // multi-line plain scalar
		"- a\n  b\n",               // multi-line plain in a sequence
		"a: \"open\n  close\"\n",   // multi-line double quotes
		"a: 'open\n  close'\n",     // multi-line single quotes
		"a: \"line \\\n  next\"\n", // escaped line break
		"? complex\n: value\n",     // complex key
		"<<: {a: 1}\nb: 2\n",       // merge key
		"a: {<<: {b: 1}}\n",        // merge key in flow
		"a:\n\tb: 1\n",             // tab indentation
		"a: b\tc\n",                // any tab
		"a: 1\na: 2\n",             // duplicate keys
		"a: 1\n\"a\": 2\n",         // duplicate keys, quoted
		"{a: 1, a: 2}\n",           // duplicate keys in flow
		"%YAML 1.2\n---\na: 1\n",   // directive
		"a: 1\n---\nb: 2\n",        // a second document
		"a: 1\n...\n",              // document end
		"a: .inf\n",                // infinity
		"a: -.Inf\n",               // negative infinity
		"a: .NaN\n",                // not a number
		"a: \"\\/\"\n",             // an escape yaml.v3 refuses
		"a: \"\\q\"\n",             // unknown escape
		"a: \"\\ud800\"\n",         // surrogate escape
		"a: [1, 2\n  , 3]\n",       // multi-line flow
		"a: {b: 1,\n c: 2}\n",      // multi-line flow mapping
		"a: [a: b]\n",              // single-pair mapping in a flow sequence
		"a: {b}\n",                 // flow mapping key without value
		"a: {b: }\n",               // empty flow value
		"[a]: b\n",                 // flow key
		"a: b: c\n",                // mapping value in a scalar
		"a: - b\n",                 // sequence entry in a value
		"a: 1\n - b\n",             // bad indentation
		"a:\n  b: 1\n c: 2\n",      // bad dedent
		"- a\nb: 1\n",              // sequence then mapping
		"a: 1\n- b\n",              // mapping then sequence
		"a: \"x\" y\n",             // text after quotes
		"a: [x] y\n",               // text after flow
		"a: @x\n",                  // reserved indicator
		"a: `x`\n",                 // reserved indicator
		"\ufeffa: 1\n",             // byte order mark
		"a: \x01\n",                // control character
		"a: \xff\n",                // invalid UTF-8
		"a: b\u2028c\n",            // Unicode line separator
		"a: b\u0085c\n",            // next line
		"a: 1\rb: 2\n",             // lone CR
		"a: " + strings.Repeat("[", 600) + strings.Repeat("]", 600) + "\n", // too deep
		strings.Repeat("k", 1100) + ": v\n",                                // key too long for yaml.v3
		strings.Repeat("- 1\n", 1<<20),                                     // too many nodes for decodeDocument
	} {
		if v, _, _, ok := Decode([]byte(in)); ok {
			t.Errorf("Decode(%q) = %#v, want a bail-out", in, v)
		}
	}
}

// checkFastMatchesYAML checks that whenever Decode accepts a document,
// yaml.v3 reads it and DecodeNode gives the same value and lines.
func checkFastMatchesYAML(t testing.TB, in []byte) {
	t.Helper()
	v, line, items, ok := Decode(in)
	if !ok {
		return
	}
	var root yaml.Node
	if err := yaml.Unmarshal(in, &root); err != nil {
		t.Fatalf("Decode accepts %q, yaml.v3 refuses it: %v", in, err)
	}
	want, wantLine, wantItems, err := DecodeNode(&root)
	if err != nil {
		t.Fatalf("Decode accepts %q, DecodeNode refuses it: %v", in, err)
	}
	if !reflect.DeepEqual(v, want) || line != wantLine || !reflect.DeepEqual(items, wantItems) {
		t.Fatalf("Decode(%q)\n got %#v line %d items %v\nyaml %#v line %d items %v", in, v, line, items, want, wantLine, wantItems)
	}
}

// fastCorpus holds tricky documents for the differential checks; many are
// outside the subset, where Decode must bail out.
var fastCorpus = []string{
	`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  labels: {app: web, tier: "frontend"}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"apps/v1","kind":"Deployment"}'
    checksum/config: 5f1c7a0e9b
    note: "line one\nline two"
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25.3
        args: ["--port", "8080", --verbose]
        command: [sh, -c, 'echo "hi"']
        ports:
        - containerPort: 8080
          protocol: TCP
        env:
        - name: EMPTY
        - name: DEBUG
          value: "false"
        - name: RATIO
          value: 0.75
        resources:
          limits: {cpu: 500m, memory: 128Mi}
          requests:
            cpu: 0.1
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          initialDelaySeconds: 5
      tolerations: []
      nodeSelector: {}
`,
	"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: crlf\r\ndata:\r\n  key: value\r\n  other: 'x'\r\n",
	`# A list
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata:
    name: b

# trailing comment
`,
	`kind: List
apiVersion: v1
items:
  -   apiVersion: v1
      kind: ConfigMap
  -
    apiVersion: v1
    kind: Secret
  - # head comment
    apiVersion: v1
    kind: Pod
`,
	`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        end-user:
          exact: jason
      uri: {prefix: "/api/v1"}
    route:
    - destination: {host: reviews, subset: v2}
      weight: 100
    retries: {attempts: 3, perTryTimeout: 2s}
  - route:
    - destination:
        host: reviews
        subset: v1
`,
	"a: 1\nb: -1\nc: +1\nd: 01\ne: 0777\nf: 08\ng: 1_000\nh: 0b101\ni: -0b11\nj: 0x_1F\nk: 0o\nl: 0x\nm: -0x10\nn: +0o7\n",
	"a: 9223372036854775808\nb: -9223372036854775809\nc: 18446744073709551616\nd: 0xFFFFFFFFFFFFFFFF\ne: 123456789012345678\nf: 1234567890123456789\n",
	"a: 1.0\nb: -1.\nc: +.5\nd: 1e-3\ne: 1E+3\nf: .5e1\ng: 1.5e\nh: 1e\ni: e1\nj: 0.\nk: ._5\nl: 1.2e3.4\nm: 00.5\n",
	"a: .inf\nb: +.inf\nc: -.INF\nd: .nan\ne: inf\nf: nan\ng: +inf\nh: -Infinity\n",
	"a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\nd: 2001-13-45\ne: 1999-1-1\nf: 12345-1-1\n",
	"a: yes\nb: No\nc: ON\nd: off\ne: y\nf: n\ng: ~x\nh: nullx\ni: <<\nj: <x\nk: tru\nl: Truex\n",
	"a: 'it''s'\nb: ''''\nc: '#not a comment'\nd: \"#nor this\"\ne: \"\\x41\\u00e9\\U0001F600\\0\\a\\b\\e\\f\\r\\v\\N\\_\\L\\P\\ \\'\"\n",
	"\"quoted key\": 1\n'single key': 2\n\"esc\\tkey\": 3\n\"k\" : 4\n",
	"a: [1, [2, [3, [4]]]]\nb: {c: {d: {e: [f, {g: h}]}}}\nc: [\"a,b\", 'c]d', e:f, -g, h i]\nd: [ ]\ne: { }\n",
	"a: [a:b]\nb: {\"x\":1,\"y\":[2]}\nc: [-]\nd: [a,]\ne: {a: 1,}\nf: [:a]\ng: [?a]\nh: [a?b]\ni: [a #c\n  ]\n",
	"- a\n-   b\n- - c\n  - d\n-\n  - e\n- {f: g}\n- [h]\n- 'i'\n- \"j\"\n-\n",
	"a:\n- b\n- c:\n  - d\n  e: f\ng:\n  -\n    h: i\n",
	"a:\n  - b\n  c: d\n",
	"a:\n  b\n  c\n",
	"a: b\n  c: d\n",
	"- a: 1\n   b: 2\n",
	"-  a: 1\n  b: 2\n",
	"a: 1 #c\nb: 2# not a comment\nc: '3'#c\nd: [4]#c\n",
	"a:#b\nc: d\n",
	"a: -\nb: ?\nc: :\n",
	"-a: 1\n?b: 2\n:c: 3\n",
	"a: b:c\nd: e:\n",
	"key with spaces   : value with spaces   \n",
	"   \n# c\n   a: 1\n   b:\n   - x\n",
	"a:\n\n\n  b: 1\n\n\n",
	"{a: 1}\n",
	"[a, b]\n",
	"\"just a string\"\n",
	"- \n",
	"-\n-\n",
	"a: [\n",
	"a: ]\n",
	"a: }\n",
	"a: ,\n",
	"items:\n- 1\nitems:\n- 2\n",
	"a: \"\\u00\"\n",
	"a: \"\\x4g\"\n",
	"a: \"unterminated\n",
	"é: ü\n\"ñ\": [ø, {å: ß}]\n",
	"a: \u00a0x\u00a0\n",
	"a: x\u00a0\n",
	"? a\n",
	"a: 1\n  # indented comment\nb: 2\n",
	"- a # c\n  # c\n- b\n",
	"a: !\nb: &\nc: *\n",
	"'a': 'b': c\n",
	"a: 'b' : c\n",
	"a: {b: [c, d], e: 'f'} # c\n",
	"a: [b, {c: d, e: [f]}] \n",
	"- [a, b]: c\n",
	"a:\n-\n- - b\n  -\n",
	"?a: b\n:a: b\n-a: b\n",
	"a: [-a, a:b, a:, -]\nb: {a : 1, \"<<\": 2}\n\"<<\": 3\n",
	"- -1\n- -\n- - \n  - a\n",
	"a: [ ]\nb: { }\nc:   \n  - d\n",
	"a: 0x\nb: 0o\nc: 0b\nd: -0x1F\ne: +0x1F\nf: 0X1F\ng: 1__0\nh: _1\ni: 1_\nj: 0x_1\n",
	"a: [a, b]: c\n",
	"a:\n  [a]: b\n",
	"a #b: c\n",
	"- a #b: c\n",
	"a: [b #c]\nd: {e: f #g}\n",
	"\"a\":b\n'c':d\n\"e\":\n",
	"a: \"x\"#c\nb: [y]#c\nc: {z: 1}#c\n",
}

func TestDecodeFastMatchesYAMLCorpus(t *testing.T) {
	for _, in := range fastCorpus {
		checkFastMatchesYAML(t, []byte(in))
		// Every prefix too: a cut document is a good source of odd input.
		for i := range len(in) {
			checkFastMatchesYAML(t, []byte(in[:i]))
		}
		// And every line alone, and as a value, where a line that bails
		// out cannot hide the others.
		for _, line := range strings.Split(in, "\n") {
			checkFastMatchesYAML(t, []byte(line))
			checkFastMatchesYAML(t, []byte("k: "+strings.TrimLeft(line, " ")))
			checkFastMatchesYAML(t, []byte("- "+strings.TrimLeft(line, " ")))
		}
	}
}

// TestDecodeFastRandomDocuments runs the differential check on documents
// put together at random from manifest-like lines, which reach more
// combinations of indentation and line forms than byte-level fuzzing.
func TestDecodeFastRandomDocuments(t *testing.T) {
	keys := []string{"a", "b", "items", "name", "'q'", `"q"`, `"e\tk"`, "a b", "-k", "k:x", "1", "null", "<<", "?k", ":k"}
	values := []string{"x", "1", "-1", "+1", "0", "00", "0x1F", "0o17", "0777", "08", "1_000", "0b11", "1.5", ".5", "-.5", "1e3", "1.",
		"1e999", "9223372036854775808", "18446744073709551616", ".inf", "-.Inf", ".nan", "true", "False", "yes", "on", "null", "~", "Null",
		"2001-12-14", "2001-12-14 21:59:43.10", "12:30", "a#b", "a #b", "a:b", "a: b", ":a", "-a", "?a", "-", "?", ":",
		"[a, b]", "[a,b,]", "[]", "{}", "{a: 1}", "{a: [1, {b: c}]}", "[a: b]", "{a}", "[a", "'x'", "'it''s'", `"x"`, `"x\ny"`,
		`"\u00e9"`, `"\/"`, `"\q"`, "'x' y", `"x"#c`, "&a x", "*a", "!t x", "|", ">", "a b  ", "x # c", "é", "@x", "`x`", "%x", "---", "..."}
	indents := []string{"", "", "", " ", "  ", "  ", "   ", "    ", "      "}
	rnd := uint64(1)
	next := func(n int) int {
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		return int(rnd % uint64(n))
	}
	pick := func(xs []string) string { return xs[next(len(xs))] }
	accepted := 0
	const docs = 20000
	for range docs {
		var b strings.Builder
		for range 1 + next(8) {
			b.WriteString(pick(indents))
			switch next(12) {
			case 0, 1, 2:
				b.WriteString(pick(keys) + ": " + pick(values))
			case 3, 4:
				b.WriteString(pick(keys) + ":")
			case 5:
				b.WriteString("- " + pick(values))
			case 6:
				b.WriteString("- " + pick(keys) + ": " + pick(values))
			case 7:
				b.WriteString("-")
			case 8:
				b.WriteString("- - " + pick(values))
			case 9:
				b.WriteString("# " + pick(values))
			case 10:
				b.WriteString(pick(values))
			case 11:
				b.WriteString(pick(keys) + ": " + pick(values) + " # " + pick(values))
			}
			if next(10) == 0 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
		}
		in := []byte(b.String())
		if _, _, _, ok := Decode(in); ok {
			accepted++
		}
		checkFastMatchesYAML(t, in)
	}
	t.Logf("Decode accepted %d of %d random documents", accepted, docs)
}

func smallMesh(t testing.TB) []byte {
	var buf bytes.Buffer
	if _, err := meshgen.Write(&buf, meshgen.Spec{Services: 200, Namespaces: 5, ErrorEvery: 7}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeFastMatchesYAMLMesh(t *testing.T) {
	chunks, ok := Split(smallMesh(t))
	if !ok {
		t.Fatal("splitDocuments refused the mesh")
	}
	accepted := 0
	for _, c := range chunks {
		if _, _, _, ok := Decode(c.Data); ok {
			accepted++
		}
		checkFastMatchesYAML(t, c.Data)
	}
	if accepted != len(chunks) {
		t.Errorf("Decode accepted %d of %d mesh documents, want all", accepted, len(chunks))
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, in := range fastCorpus {
		f.Add([]byte(in))
	}
	chunks, _ := Split(smallMesh(f))
	for _, c := range chunks[:6] {
		f.Add(c.Data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFastMatchesYAML(t, in)
	})
}
