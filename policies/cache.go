package policies

import (
	"encoding/binary"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The decision cache. A fleet repeats a few shapes many times: the same
// kinds of routes over hosts with other names. Rego decides each shape
// once, on an input whose names (hosts, namespaces, subsets, labels) are
// replaced by tokens that keep only which of them are equal, and that
// decision answers every object of the shape:
//
//   - the key is a hash of the tokenized input (kind, operation, settings
//     and facts), so equal keys mean equal tokenized inputs;
//   - a key whose tokenized input gives no finding answers "no finding"
//     for every object with that key;
//   - a key with findings is evaluated on each object itself, so the
//     messages name the object's own hosts.
//
// Only packages that tokenInvariant accepts are evaluated this way; the
// others (and user packages that read the objects as written) are
// evaluated per object.

// tokenPrefix starts every token; no policy literal starts with it, so a
// token never equals a literal.
const tokenPrefix = "\x00"

// DefaultDecisionCacheSize bounds the decisions an engine keeps: a few
// MiB, more shapes than a 10,000-Service fleet has.
const DefaultDecisionCacheSize = 1 << 16

// Adaptive keying: when a window of lookups hits less than minHitRate,
// keys cost more than they save (every object distinct), so the next
// skipWindows windows of reviews build none; then a window probes again.
// A miss costs its key (about a tenth of an evaluation), so a cold cache
// filling up is no reason to stop: the rate is low only when nearly no
// object repeats a shape.
const (
	cacheWindow = 1024
	minHitRate  = 0.02
	skipWindows = 16
)

type decisionKey [2]uint64

type decisionCache struct {
	seeds    [2]maphash.Seed
	literals map[string]struct{}
	// version is the hash of the policies' sources: a cache shared by two
	// policy versions would never mix their decisions.
	version uint64

	// forget makes store keep nothing: the benchmarks' stand-in for a
	// fleet whose every object is distinct.
	forget bool

	mu      sync.Mutex
	entries map[decisionKey]int32
	// nodes is the LRU list in a slice (indexes, not pointers: a few tens
	// of bytes a decision, and nothing for the collector to trace);
	// nodes[0] is the list's head and tail sentinel.
	nodes []lruNode
	size  int

	lookups, hits, skip atomic.Int64
	stats               CacheStats
	statsMu             sync.Mutex
	tokenizers          sync.Pool
}

type lruNode struct {
	key        decisionKey
	prev, next int32
	clean      bool
}

func (c *decisionCache) unlink(i int32) {
	n := &c.nodes[i]
	c.nodes[n.prev].next = n.next
	c.nodes[n.next].prev = n.prev
}

// pushFront puts node i first (most recently used).
func (c *decisionCache) pushFront(i int32) {
	head := &c.nodes[0]
	c.nodes[i].prev, c.nodes[i].next = 0, head.next
	c.nodes[head.next].prev = i
	head.next = i
}

// CacheStats count what the decision cache did.
type CacheStats struct {
	// Lookups and Hits count keyed reviews; Keys the distinct keys
	// decided; Skipped the reviews that built no key (adaptive).
	Lookups, Hits, Keys, Skipped int64
}

func newDecisionCache(size int, literals map[string]struct{}, version uint64) *decisionCache {
	if size <= 0 {
		size = DefaultDecisionCacheSize
	}
	size = min(size, 1<<30) // node indexes are int32
	return &decisionCache{
		seeds:    [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		literals: literals,
		version:  version,
		size:     size,
		entries:  map[decisionKey]int32{},
		nodes:    []lruNode{{}},
	}
}

// useKeys says whether this review should build a key, and keeps the
// adaptive window's count.
func (c *decisionCache) useKeys() bool {
	if c.skip.Load() > 0 {
		if c.skip.Add(-1) >= 0 {
			c.count(func(s *CacheStats) { s.Skipped++ })
			return false
		}
	}
	return true
}

// lookup returns the cached verdict of key: found, and clean when Rego
// found nothing for it.
func (c *decisionCache) lookup(key decisionKey) (clean, found bool) {
	c.mu.Lock()
	i, found := c.entries[key]
	if found {
		c.unlink(i)
		c.pushFront(i)
		clean = c.nodes[i].clean
	}
	c.mu.Unlock()
	n := c.lookups.Add(1)
	if found {
		c.hits.Add(1)
	}
	if n%cacheWindow == 0 {
		hits := c.hits.Swap(0)
		c.lookups.Add(-cacheWindow)
		if float64(hits) < minHitRate*cacheWindow {
			c.skip.Store(skipWindows * cacheWindow)
		}
	}
	c.count(func(s *CacheStats) {
		s.Lookups++
		if found {
			s.Hits++
		}
	})
	return clean, found
}

func (c *decisionCache) store(key decisionKey, clean bool) {
	if c.forget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.entries[key]; ok {
		c.nodes[i].clean = clean
		c.unlink(i)
		c.pushFront(i)
		return
	}
	var i int32
	if len(c.nodes)-1 < c.size {
		c.nodes = append(c.nodes, lruNode{})
		i = int32(len(c.nodes) - 1)
	} else {
		// Full: the least recently used node takes the new decision.
		i = c.nodes[0].prev
		c.unlink(i)
		delete(c.entries, c.nodes[i].key)
	}
	c.nodes[i].key, c.nodes[i].clean = key, clean
	c.pushFront(i)
	c.entries[key] = i
	c.count(func(s *CacheStats) { s.Keys++ })
}

func (c *decisionCache) count(f func(*CacheStats)) {
	c.statsMu.Lock()
	f(&c.stats)
	c.statsMu.Unlock()
}

func (c *decisionCache) snapshot() CacheStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	return c.stats
}

// tokenizer replaces the names of one input by tokens, numbered in the
// order they first appear.
type tokenizer struct {
	// clash is set when the input holds a string that starts like a token:
	// no Kubernetes name does, but a file may; such a key is not used.
	clash    bool
	literals map[string]struct{}
	tokens   map[string]int
	buf      []byte
	// lit is scratch space for the text of a number (factsKey).
	lit []byte
	// reads are the fields of input.facts the query reads: the others are
	// left out of the key and the tokenized input.
	reads readSet
}

// newTokenizer prepares the keys of one input. A name is never compared
// with a value that is not tokenized (tokenInvariant), so a name equal to
// a field path, say, may become a token while the field path stays.
func (c *decisionCache) newTokenizer() *tokenizer {
	t, _ := c.tokenizers.Get().(*tokenizer)
	if t == nil {
		t = &tokenizer{tokens: map[string]int{}}
	}
	t.literals, t.reads = c.literals, readSet{all: true}
	return t
}

// view starts the key of a package that reads the given facts: tokens are
// numbered anew, in the order they appear in that view.
func (t *tokenizer) view(reads readSet) {
	clear(t.tokens)
	t.reads = reads
}

// release hands a tokenizer back for reuse: its maps and buffer are most
// of what a key allocates.
func (c *decisionCache) release(t *tokenizer) {
	clear(t.tokens)
	t.buf, t.clash, t.reads = t.buf[:0], false, readSet{}
	c.tokenizers.Put(t)
}

// skip reports whether a field of the object held under key is left out.
func (t *tokenizer) skip(key, field string) bool {
	return key == "facts" && !t.reads.has(field)
}

// key hashes the tokenized input with what else decides the evaluation:
// the query (scope and packages) and the policies' version.
func (c *decisionCache) key(t *tokenizer, input *ast.Term, sc scope, mask uint64) decisionKey {
	c.startKey(t, sc, mask)
	t.encode(input, "", false)
	return c.sum(t)
}

// startKey begins a key with what decides the evaluation besides the
// input.
func (c *decisionCache) startKey(t *tokenizer, sc scope, mask uint64) {
	t.buf = t.buf[:0]
	t.buf = binary.LittleEndian.AppendUint64(t.buf, c.version)
	t.buf = binary.LittleEndian.AppendUint64(t.buf, mask)
	t.buf = append(t.buf, sc.kind...)
	t.buf = append(t.buf, 0)
	t.buf = append(t.buf, sc.op...)
	t.buf = append(t.buf, 0)
}

// sum hashes the key written to t.
func (c *decisionCache) sum(t *tokenizer) decisionKey {
	return decisionKey{maphash.Bytes(c.seeds[0], t.buf), maphash.Bytes(c.seeds[1], t.buf)}
}

// keep reports whether s stays as it is: a literal of the policies.
func (t *tokenizer) keep(s string) bool {
	_, ok := t.literals[s]
	return ok
}

func (t *tokenizer) token(s string) string {
	return tokenPrefix + strconv.Itoa(t.tokenIndex(s))
}

func (t *tokenizer) tokenIndex(s string) int {
	n, ok := t.tokens[s]
	if !ok {
		n = len(t.tokens)
		t.tokens[s] = n
	}
	return n
}

// name is a key of an object keyed by names, as the tokenized input
// holds it.
func (t *tokenizer) name(s string) string {
	if t.keep(s) {
		return s
	}
	return t.token(s)
}

// number is a number as the tokenized input holds it: those the policies
// only compare (port numbers, counts of workloads) become numbers of
// their own, above any port, numbered in order of appearance; those equal
// to a literal of the policies stay.
func (t *tokenizer) number(n ast.Number, key string) ast.Number {
	if inputKeyFlags[key]&keyNumberToken == 0 {
		return n
	}
	lit := numberLiteral(n)
	if _, ok := t.literals[lit]; ok {
		return n
	}
	return ast.Number(strconv.Itoa(numberTokenBase + t.tokenIndex(lit)))
}

// numberTokenBase is above every port number and any count a fleet has.
const numberTokenBase = 1_000_000_000

// str is a string as the tokenized input holds it.
func (t *tokenizer) str(s, key string) string {
	if inputKeyFlags[key]&keyClean != 0 || t.keep(s) {
		return s
	}
	return t.token(s)
}

// encode appends the tokenized term to t.buf, with a tag per value so that
// distinct inputs encode differently. key is the name of the field holding
// term (elements of a list share their list's); elem as in collectKept.
func (t *tokenizer) encode(term *ast.Term, key string, elem bool) {
	switch v := term.Value.(type) {
	case ast.Null:
		t.buf = append(t.buf, 'z')
	case ast.Boolean:
		if v {
			t.buf = append(t.buf, 'T')
		} else {
			t.buf = append(t.buf, 'F')
		}
	case ast.Number:
		t.buf = append(t.buf, 'n')
		t.buf = append(t.buf, t.number(v, key)...)
		t.buf = append(t.buf, 0)
	case ast.String:
		t.clash = t.clash || strings.HasPrefix(string(v), tokenPrefix)
		t.appendString(t.str(string(v), key))
	case *ast.Array:
		t.buf = append(t.buf, '[')
		v.Foreach(func(x *ast.Term) { t.encode(x, key, elem) })
		t.buf = append(t.buf, ']')
	case ast.Set:
		t.buf = append(t.buf, '<')
		v.Foreach(func(x *ast.Term) { t.encode(x, key, elem) })
		t.buf = append(t.buf, '>')
	case ast.Object:
		t.buf = append(t.buf, '{')
		named := inputKeyFlags[key]&keyTokenKeyed != 0 && !elem
		v.Foreach(func(k, x *ast.Term) {
			ks, _ := k.Value.(ast.String)
			if t.skip(key, string(ks)) {
				return
			}
			t.clash = t.clash || strings.HasPrefix(string(ks), tokenPrefix)
			if named {
				t.appendString(t.name(string(ks)))
				t.encode(x, key, true)
				return
			}
			t.appendString(string(ks))
			t.encode(x, string(ks), false)
		})
		t.buf = append(t.buf, '}')
	default:
		t.buf = append(t.buf, '?')
		t.appendString(term.String())
	}
}

func (t *tokenizer) appendString(s string) {
	t.buf = append(t.buf, 's')
	t.buf = binary.AppendUvarint(t.buf, uint64(len(s)))
	t.buf = append(t.buf, s...)
}

// tokenized builds the tokenized input itself (after key, so that the
// tokens are numbered the same).
func (t *tokenizer) tokenized(term *ast.Term, key string, elem bool) *ast.Term {
	switch v := term.Value.(type) {
	case ast.String:
		return ast.StringTerm(t.str(string(v), key))
	case ast.Number:
		if n := t.number(v, key); string(n) != string(v) {
			return ast.NewTerm(n)
		}
		return term
	case *ast.Array:
		items := make([]*ast.Term, 0, v.Len())
		v.Foreach(func(x *ast.Term) { items = append(items, t.tokenized(x, key, elem)) })
		return ast.ArrayTerm(items...)
	case ast.Set:
		items := make([]*ast.Term, 0, v.Len())
		v.Foreach(func(x *ast.Term) { items = append(items, t.tokenized(x, key, elem)) })
		return ast.SetTerm(items...)
	case ast.Object:
		named := inputKeyFlags[key]&keyTokenKeyed != 0 && !elem
		items := make([][2]*ast.Term, 0, v.Len())
		v.Foreach(func(k, x *ast.Term) {
			ks, _ := k.Value.(ast.String)
			if t.skip(key, string(ks)) {
				return
			}
			if named {
				items = append(items, [2]*ast.Term{ast.StringTerm(t.name(string(ks))), t.tokenized(x, key, true)})
				return
			}
			items = append(items, [2]*ast.Term{k, t.tokenized(x, string(ks), false)})
		})
		return ast.ObjectTerm(items...)
	}
	return term
}
