// Package fastyaml reads the YAML documents of Kubernetes manifests into
// the JSON-like values the policies take (map[string]any, []any, string,
// int64, float64, bool, nil), with the lines findings point at: a
// stream is split at its document markers, each document decoded by a
// fast reader of the block-style subset manifests use, or, outside it,
// from yaml.v3's nodes.
package fastyaml

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Decode decodes one YAML document (a chunk of a stream, without its
// "---" markers) written in the block-style subset Kubernetes manifests
// use, giving the same values, root line and item lines as yaml.v3 with
// DecodeNode. Lines are 1-based within data.
//
// The subset: block mappings and sequences (including "- key: v" entries
// and sequences at the indentation of their key), comments, plain scalars
// on one line, single- and double-quoted scalars on one line, flow
// sequences and mappings on one line, empty values, CRLF line endings.
// Anything else — anchors, aliases, tags, block scalars, multi-line
// scalars, complex or merge keys, tabs, duplicate keys, directives, odd
// characters, or any input yaml.v3 might read differently or reject —
// gives ok false, and the caller decodes the document with yaml.v3.
//
// A document of comments and blank lines only gives value nil, rootLine 0
// and ok true, as DecodeNode does.
func Decode(data []byte) (value any, rootLine int, itemLines []int, ok bool) {
	p := fastParsers.Get().(*fastParser)
	defer p.release()
	p.b, p.src = data, string(data)
	if !p.advance() {
		return nil, 0, nil, false
	}
	if p.eof {
		return nil, 0, nil, true
	}
	rootLine = p.num
	p.root = true
	p.nodes = 1
	v, ok := p.block(nil)
	if !ok || !p.eof {
		return nil, 0, nil, false
	}
	return v, rootLine, p.itemLines, true
}

// fastParsers keeps parsers for their scratch space.
var fastParsers = sync.Pool{New: func() any { return new(fastParser) }}

// release resets p, keeping its scratch space, and puts it back in the
// pool.
func (p *fastParser) release() {
	// Elements past the length were cleared as they were used.
	clear(p.items)
	if cap(p.items) > 1<<12 {
		return // do not keep the scratch of a huge document
	}
	if len(p.strings) > fastMaxStrings {
		clear(p.strings)
	}
	*p = fastParser{items: p.items[:0], strings: p.strings}
	fastParsers.Put(p)
}

const (
	// fastMaxDepth bounds nesting well below nodeValue's limit.
	fastMaxDepth = 500
	// fastMaxKey bounds the bytes from a key's start to its ':'; yaml.v3
	// drops simple keys longer than 1024 characters.
	fastMaxKey = 1000
)

// plainByte marks printable ASCII.
var plainByte = func() (t [256]byte) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = 1
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// lineEnd finds the end of the line that starts at offset start: the
// offset of its "\n" or "\r\n" (or of the end of the data) and the offset
// of the next line. ok is false when the line holds a character the fast
// decoder does not read exactly as yaml.v3 does: anything but printable
// ASCII and valid UTF-8 without C1 controls, Unicode line breaks (NEL, LS,
// PS), byte order marks or noncharacters. Tabs are refused too: they have
// rules of their own in YAML indentation.
func (p *fastParser) lineEnd(start int) (end, next int, ok bool) {
	b := p.b
	j := start
	for {
		// Skip words of printable ASCII: no byte below 0x20, equal to
		// 0x7f or above 0x7f.
		for j+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[j:])
			y := x ^ (ones * 0x7f)
			if ((x-ones*0x20)&^x|(y-ones)&^y|x)&highs != 0 {
				break
			}
			j += 8
		}
		for j < len(b) && plainByte[b[j]] != 0 {
			j++
		}
		if j >= len(b) {
			return j, j, true
		}
		switch c := b[j]; {
		case c == '\n':
			return j, j + 1, true
		case c == '\r':
			if j+1 < len(b) && b[j+1] == '\n' {
				return j, j + 2, true
			}
			return 0, 0, false
		case c < 0x80:
			return 0, 0, false // tab, other controls, DEL
		}
		r, size := utf8.DecodeRune(b[j:])
		if r == utf8.RuneError && size == 1 ||
			r < 0xA0 || r == 0x2028 || r == 0x2029 || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF {
			return 0, 0, false
		}
		j += size
	}
}

// fastParser reads a document line by line. The current line is the next
// line with content; for a sequence entry with content on the same line
// ("- a: 1") the current line is narrowed to that content, at its column.
type fastParser struct {
	b   []byte
	src string // b as a string, for scanning; values are copies (see own)

	next   int // offset of the line after the current one
	lineNo int // number of the last line read

	num  int  // line number of the current line
	ind  int  // column of the current content; -1 at the end
	cur  int  // offset of the current content
	end  int  // offset of the end of the current line, before "\r\n"
	eof  bool // no lines left
	root bool // the next node parsed is the document's root

	depth int
	nodes int

	items     []any // pending elements of the sequences being parsed
	itemLines []int

	// strings holds the keys and string values already copied out of
	// earlier documents, so a key or value that recurs (most of them in a
	// set of manifests) is one string.
	strings map[string]string
}

// fastMaxStrings bounds the strings a parser keeps for reuse.
const fastMaxStrings = 1 << 14

// own returns s, a substring of the document, as a string of its own:
// a decoded object keeps only the strings it holds, not the whole text
// of its document (a large validation keeps the index of every object
// it read, and substrings kept the 11 MB of YAML they came from alive).
func (p *fastParser) own(s string) string {
	if v, ok := p.strings[s]; ok {
		return v
	}
	if p.strings == nil {
		p.strings = make(map[string]string, 256)
	}
	v := strings.Clone(s)
	p.strings[v] = v
	return v
}

// advance moves to the next line with content, skipping blank and
// comment lines. It returns false for lines outside the subset.
func (p *fastParser) advance() bool {
	s := p.src
	for {
		if p.next >= len(s) {
			p.eof, p.ind, p.cur, p.end = true, -1, len(s), len(s)
			return true
		}
		start := p.next
		end, next, ok := p.lineEnd(start)
		if !ok {
			return false
		}
		p.next = next
		p.lineNo++
		if end-start >= 3 && (s[start:start+3] == "---" || s[start:start+3] == "...") {
			return false // document markers belong to the stream
		}
		if start < end && s[start] == '%' {
			return false // a directive
		}
		i := start
		// Count the indentation a word at a time; the line break or the
		// end of the data stops it.
		for i+8 <= len(s) {
			if x := binary.LittleEndian.Uint64(p.b[i:]) ^ (ones * ' '); x != 0 {
				i += bits.TrailingZeros64(x) >> 3
				break
			}
			i += 8
		}
		for i < end && s[i] == ' ' {
			i++
		}
		if i >= end || s[i] == '#' {
			continue
		}
		p.num, p.ind, p.cur, p.end = p.lineNo, i-start, i, end
		return true
	}
}

// blankAt reports whether offset i of the current line is a space or the
// end of the line.
func (p *fastParser) blankAt(i int) bool {
	return i >= p.end || p.src[i] == ' '
}

func (p *fastParser) isSeqEntry() bool {
	return !p.eof && p.src[p.cur] == '-' && p.blankAt(p.cur+1)
}

func (p *fastParser) skipSpaces(i int) int {
	for i < p.end && p.src[i] == ' ' {
		i++
	}
	return i
}

// count accounts for one more value node, as nodeValue's budget does.
func (p *fastParser) count() bool {
	p.nodes++
	return p.nodes < maxExpandedNodes
}

// block parses the block node that starts at the current line and leaves
// the parser on the line after it. lines, when not nil, receives the line
// of each element if the node is a sequence.
func (p *fastParser) block(lines *[]int) (any, bool) {
	p.depth++
	if p.depth > fastMaxDepth {
		return nil, false
	}
	root := p.root
	p.root = false
	var v any
	var ok bool
	if p.isSeqEntry() {
		v, ok = p.sequence(lines)
	} else {
		key, after, isKey, keyOK := p.scanKey()
		switch {
		case !keyOK:
		case isKey:
			v, ok = p.mapping(key, after, root)
		default:
			if v, ok = p.inline(p.cur, lines, root); ok {
				ok = p.advance()
			}
		}
	}
	p.depth--
	return v, ok
}

// scanKey looks for a mapping entry ("key:" followed by a space or the
// end of the line) at the current content. It returns the key and the
// offset after the colon; isKey is false for a line that holds a lone
// scalar or flow collection, ok false for a line outside the subset.
func (p *fastParser) scanKey() (key string, after int, isKey, ok bool) {
	s, i, end := p.src, p.cur, p.end
	switch s[i] {
	case '"', '\'':
		k, j, ok := p.quoted(i)
		if !ok {
			return "", 0, false, false
		}
		j = p.skipSpaces(j)
		if j < end && s[j] == ':' && p.blankAt(j+1) {
			if j-i > fastMaxKey {
				return "", 0, false, false
			}
			return k, j + 1, true, true
		}
		return "", 0, false, true
	case '[', '{':
		return "", 0, false, true
	case '-', '?', ':':
		if p.blankAt(i + 1) {
			return "", 0, false, false // a complex key, an empty key
		}
	case ',', ']', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`':
		return "", 0, false, false
	}
	for j := i + 1; j < end; j++ {
		switch s[j] {
		case ':':
			if j+1 >= end || s[j+1] == ' ' {
				if j-i > fastMaxKey {
					return "", 0, false, false
				}
				e := j
				for s[e-1] == ' ' {
					e--
				}
				k := s[i:e]
				if k == "<<" {
					return "", 0, false, false // a merge key
				}
				return p.own(k), j + 1, true, true
			}
		case '#':
			if s[j-1] == ' ' {
				return "", 0, false, true
			}
		}
	}
	return "", 0, false, true
}

// mapping parses a block mapping whose first key, already scanned, is on
// the current line.
func (p *fastParser) mapping(key string, after int, root bool) (any, bool) {
	n := p.ind
	m := make(map[string]any)
	for {
		s := p.src
		var lines *[]int
		if root && key == "items" {
			lines = &p.itemLines
		}
		if !p.count() {
			return nil, false
		}
		var v any
		i := p.skipSpaces(after)
		if i >= p.end || s[i] == '#' {
			// The value is on the lines below, or null.
			if !p.advance() {
				return nil, false
			}
			if p.ind > n || (p.ind == n && p.isSeqEntry()) {
				var ok bool
				if v, ok = p.block(lines); !ok {
					return nil, false
				}
			}
		} else {
			switch s[i] {
			case '-', '?', ':':
				if p.blankAt(i + 1) {
					return nil, false
				}
			}
			var ok bool
			if v, ok = p.inline(i, lines, false); !ok || !p.advance() {
				return nil, false
			}
		}
		size := len(m)
		m[key] = v
		if len(m) == size {
			return nil, false // a duplicate key
		}
		if p.ind < n {
			break
		}
		if p.ind > n || p.isSeqEntry() {
			return nil, false
		}
		var isKey, ok bool
		if key, after, isKey, ok = p.scanKey(); !ok || !isKey {
			return nil, false
		}
	}
	return m, true
}

func (p *fastParser) makeSlice(base int) []any {
	items := p.items[base:]
	out := make([]any, len(items))
	copy(out, items)
	clear(items)
	p.items = p.items[:base]
	return out
}

// sequence parses a block sequence whose first entry is on the current
// line.
func (p *fastParser) sequence(lines *[]int) (any, bool) {
	n := p.ind
	base := len(p.items)
	for {
		if !p.count() {
			return nil, false
		}
		line := p.num
		var v any
		i := p.skipSpaces(p.cur + 1)
		if i >= p.end || p.src[i] == '#' {
			// The entry is on the lines below, or null.
			if !p.advance() {
				return nil, false
			}
			if p.ind > n {
				line = p.num
				var ok bool
				if v, ok = p.block(nil); !ok {
					return nil, false
				}
			}
		} else {
			// The entry starts on this line: narrow the line to it.
			p.ind += i - p.cur
			p.cur = i
			var ok bool
			if v, ok = p.block(nil); !ok {
				return nil, false
			}
		}
		p.items = append(p.items, v)
		if lines != nil {
			*lines = append(*lines, line)
		}
		if p.ind < n {
			break
		}
		if p.ind > n {
			return nil, false
		}
		if !p.isSeqEntry() {
			break // the mapping of an indentless sequence goes on
		}
	}
	return p.makeSlice(base), true
}

// inline parses a scalar or flow collection that starts at offset i of
// the current line and must end it (a comment may follow).
func (p *fastParser) inline(i int, lines *[]int, root bool) (any, bool) {
	s := p.src
	switch s[i] {
	case '[', '{':
		v, j, ok := p.flowNode(i, lines, root)
		if !ok || !p.tailOK(j) {
			return nil, false
		}
		return v, true
	case '"', '\'':
		str, j, ok := p.quoted(i)
		if !ok || !p.tailOK(j) {
			return nil, false
		}
		return str, true
	case '-', '?', ':':
		if p.blankAt(i + 1) {
			return nil, false
		}
	case ',', ']', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`':
		return nil, false
	}
	last := i + 1
	for j := i + 1; j < p.end; j++ {
		switch s[j] {
		case ' ':
			continue
		case ':':
			if p.blankAt(j + 1) {
				return nil, false // "a: b: c"
			}
		case '#':
			if s[j-1] == ' ' {
				return p.plainScalar(s[i:last])
			}
		}
		last = j + 1
	}
	return p.plainScalar(s[i:last])
}

// tailOK reports whether only spaces and a comment follow offset j.
func (p *fastParser) tailOK(j int) bool {
	if j >= p.end {
		return true
	}
	if p.src[j] != ' ' {
		return false
	}
	j = p.skipSpaces(j)
	return j >= p.end || p.src[j] == '#'
}

// quoted reads a single- or double-quoted scalar that starts at offset i
// and ends on the same line, returning its value and the offset after the
// closing quote.
func (p *fastParser) quoted(i int) (string, int, bool) {
	s, end := p.src, p.end
	if s[i] == '\'' {
		for j := i + 1; j < end; j++ {
			if s[j] == '\'' {
				if j+1 < end && s[j+1] == '\'' {
					return p.singleQuotedSlow(i)
				}
				return p.own(s[i+1 : j]), j + 1, true
			}
		}
		return "", 0, false
	}
	for j := i + 1; j < end; j++ {
		switch s[j] {
		case '"':
			return p.own(s[i+1 : j]), j + 1, true
		case '\\':
			return p.doubleQuotedSlow(i)
		}
	}
	return "", 0, false
}

func (p *fastParser) singleQuotedSlow(i int) (string, int, bool) {
	s, end := p.src, p.end
	var b strings.Builder
	for j := i + 1; j < end; j++ {
		if s[j] == '\'' {
			if j+1 < end && s[j+1] == '\'' {
				b.WriteByte('\'')
				j++
				continue
			}
			return b.String(), j + 1, true
		}
		b.WriteByte(s[j])
	}
	return "", 0, false
}

// doubleQuotedSlow reads a double-quoted scalar with escapes, accepting
// exactly the escapes yaml.v3 does (which do not include "\/").
func (p *fastParser) doubleQuotedSlow(i int) (string, int, bool) {
	s, end := p.src, p.end
	b := make([]byte, 0, 32)
	for j := i + 1; j < end; j++ {
		c := s[j]
		if c == '"' {
			return string(b), j + 1, true
		}
		if c != '\\' {
			b = append(b, c)
			continue
		}
		j++
		if j >= end {
			return "", 0, false // an escaped line break
		}
		width := 0
		switch s[j] {
		case '0':
			b = append(b, 0)
		case 'a':
			b = append(b, '\a')
		case 'b':
			b = append(b, '\b')
		case 't':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'v':
			b = append(b, '\v')
		case 'f':
			b = append(b, '\f')
		case 'r':
			b = append(b, '\r')
		case 'e':
			b = append(b, 0x1b)
		case ' ', '"', '\'', '\\':
			b = append(b, s[j])
		case 'N':
			b = append(b, "\u0085"...)
		case '_':
			b = append(b, "\u00a0"...)
		case 'L':
			b = append(b, "\u2028"...)
		case 'P':
			b = append(b, "\u2029"...)
		case 'x':
			width = 2
		case 'u':
			width = 4
		case 'U':
			width = 8
		default:
			return "", 0, false
		}
		if width == 0 {
			continue
		}
		if j+width >= end {
			return "", 0, false
		}
		r := 0
		for k := 1; k <= width; k++ {
			d := unhex(s[j+k])
			if d < 0 {
				return "", 0, false
			}
			r = r<<4 | d
		}
		if r >= 0xD800 && r <= 0xDFFF || r > 0x10FFFF {
			return "", 0, false
		}
		b = utf8.AppendRune(b, rune(r))
		j += width
	}
	return "", 0, false
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// flowNode parses a node in the flow context, on the current line, from
// offset i; it returns the offset after the node.
func (p *fastParser) flowNode(i int, lines *[]int, root bool) (any, int, bool) {
	switch p.src[i] {
	case '[':
		return p.flowSequence(i, lines)
	case '{':
		return p.flowMapping(i, root)
	case '"', '\'':
		return p.quoted(i)
	}
	str, j, ok := p.flowPlain(i)
	if !ok {
		return nil, 0, false
	}
	v, ok := p.plainScalar(str)
	return v, j, ok
}

// flowPlain reads a plain scalar in the flow context.
func (p *fastParser) flowPlain(i int) (string, int, bool) {
	s, end := p.src, p.end
	switch s[i] {
	case '-':
		if i+1 >= end {
			return "", 0, false
		}
		switch s[i+1] {
		case ' ', ',', '?', '[', ']', '{', '}', '#', ':':
			return "", 0, false
		}
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ':
		return "", 0, false
	}
	last := i + 1
	j := i + 1
loop:
	for ; j < end; j++ {
		switch s[j] {
		case ' ':
			continue
		case ',', '?', '[', ']', '{', '}':
			break loop
		case ':':
			if p.blankAt(j + 1) {
				break loop
			}
		case '#':
			if s[j-1] == ' ' {
				break loop
			}
		}
		last = j + 1
	}
	return s[i:last], last, true
}

func (p *fastParser) flowSequence(i int, lines *[]int) (any, int, bool) {
	p.depth++
	if p.depth > fastMaxDepth {
		return nil, 0, false
	}
	s := p.src
	base := len(p.items)
	j := p.skipSpaces(i + 1)
	for j < p.end && s[j] != ']' {
		if !p.count() {
			return nil, 0, false
		}
		v, k, ok := p.flowNode(j, nil, false)
		if !ok {
			return nil, 0, false
		}
		p.items = append(p.items, v)
		if lines != nil {
			*lines = append(*lines, p.num)
		}
		if j, ok = p.afterFlowItem(k, ']'); !ok {
			return nil, 0, false
		}
	}
	if j >= p.end {
		return nil, 0, false // the sequence goes on to the next line
	}
	p.depth--
	return p.makeSlice(base), j + 1, true
}

// afterFlowItem finds the next item of a flow collection that closer
// ends: past a comma, or at the closer itself. ok is false at the line's
// end or on anything else.
func (p *fastParser) afterFlowItem(k int, closer byte) (int, bool) {
	j := p.skipSpaces(k)
	if j >= p.end {
		return 0, false
	}
	switch p.src[j] {
	case ',':
		return p.skipSpaces(j + 1), true
	case closer:
		return j, true
	}
	return 0, false
}

func (p *fastParser) flowMapping(i int, root bool) (any, int, bool) {
	p.depth++
	if p.depth > fastMaxDepth {
		return nil, 0, false
	}
	s := p.src
	m := make(map[string]any)
	j := p.skipSpaces(i + 1)
	for j < p.end && s[j] != '}' {
		if !p.count() {
			return nil, 0, false
		}
		start := j
		var key string
		var ok bool
		if s[j] == '"' || s[j] == '\'' {
			key, j, ok = p.quoted(j)
		} else {
			key, j, ok = p.flowPlain(j)
			if key == "<<" {
				ok = false
			}
			key = p.own(key)
		}
		if !ok {
			return nil, 0, false
		}
		j = p.skipSpaces(j)
		if j >= p.end || s[j] != ':' || j-start > fastMaxKey {
			return nil, 0, false
		}
		j = p.skipSpaces(j + 1)
		if j >= p.end || s[j] == ',' || s[j] == '}' {
			return nil, 0, false // an empty value
		}
		var lines *[]int
		if root && key == "items" {
			lines = &p.itemLines
		}
		v, k, ok := p.flowNode(j, lines, false)
		if !ok {
			return nil, 0, false
		}
		size := len(m)
		m[key] = v
		if len(m) == size {
			return nil, 0, false // a duplicate key
		}
		if j, ok = p.afterFlowItem(k, '}'); !ok {
			return nil, 0, false
		}
	}
	if j >= p.end {
		return nil, 0, false // the mapping goes on to the next line
	}
	p.depth--
	return m, j + 1, true
}

// plainHint is yaml.v3's resolve table: the first byte of a plain scalar
// that may resolve to something other than a string.
var plainHint = func() (t [256]byte) {
	t['+'], t['-'] = 'S', 'S'
	for c := '0'; c <= '9'; c++ {
		t[c] = 'D'
	}
	for _, c := range "yYnNtTfFoO~<" {
		t[c] = 'M'
	}
	t['.'] = '.'
	return t
}()

// numberByte holds every byte a plain scalar that yaml.v3 resolves to a
// number (or timestamp) can contain: signs, digits, hex digits, base
// prefixes, underscores and points. A scalar with any other byte is a
// string.
var numberByte = func() (t [256]bool) {
	for _, c := range "+-_.0123456789abcdefABCDEFxXoO" {
		t[c] = true
	}
	return t
}()

// plainScalar resolves a non-empty plain scalar as yaml.v3 and
// scalarValue do.
func (p *fastParser) plainScalar(s string) (any, bool) {
	switch plainHint[s[0]] {
	case 0:
		return p.own(s), true
	case 'M':
		switch s {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		case "~", "null", "Null", "NULL":
			return nil, true
		}
		return p.own(s), true
	}
	if v, ok := decimal(s); ok {
		return v, true
	}
	for i := 0; i < len(s); i++ {
		if !numberByte[s[i]] {
			if strings.HasSuffix(s, "inf") || strings.HasSuffix(s, "Inf") || strings.HasSuffix(s, "INF") ||
				strings.HasSuffix(s, "nan") || strings.HasSuffix(s, "NaN") || strings.HasSuffix(s, "NAN") {
				return nil, false // .inf, -.Inf, .nan and the like
			}
			return p.own(s), true
		}
	}
	// A rare spelling (0x1F, 1_000, 0777, 1e3, 2001-12-14, 1.2.3): let
	// scalarValue itself resolve it, as for a node yaml.v3 parsed.
	v := scalarValue(&yaml.Node{Kind: yaml.ScalarNode, Value: s})
	if str, ok := v.(string); ok {
		return p.own(str), true
	}
	return v, true
}

// decimal reads an int64 in plain decimal notation: an optional sign,
// then 0 or up to 18 digits without a leading zero.
func decimal(s string) (int64, bool) {
	i := 0
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i = 1
	}
	digits := s[i:]
	if len(digits) == 0 || len(digits) > 18 || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	var v int64
	for j := 0; j < len(digits); j++ {
		c := digits[j]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}
