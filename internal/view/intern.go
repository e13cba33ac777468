package view

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
	"unsafe"

	"github.com/mailsim/mailsim/internal/reftab"
)

// Interner hands out one string per distinct value, so that the Message-IDs
// a user's devices, person and audit keep share their bytes instead of
// each holding a copy (a Message-ID is about 50 bytes; a string header
// pointing to a shared one is 16). The engine makes one per user
// (internal/engine/user.go) and hands it to the user's devices through
// clients.Options.IDs; a POP3 device also interns the From fields (and the
// UIDLs it cannot pack), and keeps each message's reply fields as a value
// of its own (Put) whose subject words are indexes in the Interner's
// dictionary (Word) (clients/local_text.go).
//
// It keeps every value it was given for as long as it lives: it grows with
// the distinct values its user saw in a run — the Message-IDs, which the
// auditor keeps too (internal/audit/auditor.go, user.messages), and for a
// POP3 user each downloaded message's reply fields, which stay after the
// device deletes the message (about 9 bytes a message with mailgen's
// subjects), bounded by the mail delivered to the user in the run. The
// values' bytes sit in an arena of chunks of at most 4 KiB (a length byte
// or two before each value; the strings Intern returns are slices of it),
// and an open-addressing table of 4-byte references to them
// (internal/reftab) finds a value, 60–75% full: besides a value's bytes,
// 1–2 bytes of length and 5.3–6.7 of table, and the unused end of the last
// chunk (docs/performance.md, "Memory per message held"). Values longer
// than maxArenaValue get a string of their own.
//
// The zero value is not usable; a nil *Interner interns nothing (Intern
// returns its argument, Lookup finds nothing), and Handle, Value and Read
// need a non-nil one. It is safe for concurrent use.
type Interner struct {
	seed maphash.Seed
	// hash is maphash with seed; a test injects colliding ones.
	hash func(string) uint64

	mu     sync.Mutex
	chunks [][]byte // each at most chunkStride long; never reallocated
	long   []string // values longer than maxArenaValue
	tab    reftab.Table
	// words is the dictionary of Word: the handles of its words, by index,
	// found by wordTab (references are indexes in words).
	words   []Handle
	wordTab reftab.Table
}

// Handle names a value of an Interner in 4 bytes: the arena position of
// its length prefix (chunk index << chunkBits | offset), or, with longBit
// set, its index in the long values.
type Handle uint32

const (
	// chunkBits is the width of a handle's offset in its chunk.
	chunkBits = 12
	// chunkStride is the largest chunk: 4 KiB, so that the unused end of
	// the last chunk, a user's loss, is small (up to 16 KiB cost the
	// benchmark's 2,000 messages 7 bytes each: docs/performance.md,
	// "Memory per message held").
	chunkStride = 1 << chunkBits
	// firstChunk is the first chunk's size; each next one doubles, up to
	// chunkStride, so that a user with few messages keeps a small arena.
	firstChunk = 256
	// longBit marks a handle of a long value.
	longBit = 1 << 31
	// maxChunks is the number of chunks a handle can name.
	maxChunks = longBit >> chunkBits
	// maxArenaValue is the longest value kept in the arena (a
	// Message-ID's line is at most 998 bytes; a References field can be
	// longer).
	maxArenaValue = 1024
)

// NewInterner returns an empty Interner.
func NewInterner() *Interner {
	in := &Interner{seed: maphash.MakeSeed()}
	in.hash = func(s string) uint64 { return maphash.String(in.seed, s) }
	return in
}

// Intern returns the Interner's string equal to s, adding a copy of s (in
// the Interner's arena, never a slice of a buffer s may point into) when it
// has none. "" and a nil Interner return s.
func (in *Interner) Intern(s string) string {
	if in == nil || s == "" {
		return s
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.value(in.handle(s))
}

// NoHandle is the handle of "": Handle returns it for "", Value returns ""
// for it. No value stored has it.
const NoHandle Handle = 1<<32 - 1

// Handle returns the handle of s, adding s as Intern does; NoHandle for
// "". in must not be nil.
func (in *Interner) Handle(s string) Handle {
	if s == "" {
		return NoHandle
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.handle(s)
}

// HandleBytes is Handle(string(b)) without the string: b is copied only
// when it is new.
func (in *Interner) HandleBytes(b []byte) Handle {
	if len(b) == 0 {
		return NoHandle
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.handle(unsafe.String(&b[0], len(b))) // store copies a new value
}

// Lookup returns the handle of s and true when the Interner holds s, and
// false otherwise, adding nothing.
func (in *Interner) Lookup(s string) (Handle, bool) {
	if in == nil || s == "" {
		return 0, false
	}
	h := in.hash(s)
	in.mu.Lock()
	defer in.mu.Unlock()
	ref, ok := in.tab.Find(h, func(ref uint32) bool { return in.value(Handle(ref)) == s })
	return Handle(ref), ok
}

// Value returns the value of handle h, one Handle or Lookup returned.
func (in *Interner) Value(h Handle) string {
	if h == NoHandle {
		return ""
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.value(h)
}

// Read calls f with a function that returns the value of a handle, as
// Value does, without taking the Interner's lock for each: for a caller
// that reads many (a device's View). The lock is held while f runs: f must
// not call the Interner's other methods.
func (in *Interner) Read(f func(value func(Handle) string)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f(in.valueOrEmpty)
}

// valueOrEmpty is value with NoHandle's "". in.mu is held.
func (in *Interner) valueOrEmpty(h Handle) string {
	if h == NoHandle {
		return ""
	}
	return in.value(h)
}

// Len returns the number of distinct values held.
func (in *Interner) Len() int {
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tab.Len()
}

// handle returns the handle of s (not ""), adding s when it is new. in.mu
// is held.
func (in *Interner) handle(s string) Handle {
	h := in.hash(s)
	if ref, ok := in.tab.Find(h, func(ref uint32) bool { return in.value(Handle(ref)) == s }); ok {
		return Handle(ref)
	}
	hd := in.store(s)
	in.tab.Insert(h, uint32(hd), func(ref uint32) uint64 { return in.hash(in.value(Handle(ref))) })
	return hd
}

// store copies s into the arena, or into a string of its own when it is
// long or the arena is full, and returns its handle. in.mu is held.
func (in *Interner) store(s string) Handle {
	if len(s) > maxArenaValue {
		return in.storeLong(s)
	}
	need := len(s) + 1 // a uvarint length of 1 byte, or 2 from 128 on
	if len(s) >= 1<<7 {
		need++
	}
	last := len(in.chunks) - 1
	if last < 0 || cap(in.chunks[last])-len(in.chunks[last]) < need {
		if len(in.chunks) == maxChunks {
			return in.storeLong(s)
		}
		size := firstChunk
		if last >= 0 {
			size = min(2*cap(in.chunks[last]), chunkStride)
		}
		size = max(size, need) // need <= maxArenaValue+2 < chunkStride
		in.chunks = append(in.chunks, make([]byte, 0, size))
		last++
	}
	c := in.chunks[last]
	off := len(c)
	c = binary.AppendUvarint(c, uint64(len(s)))
	c = append(c, s...) // within cap: the chunk's bytes never move
	in.chunks[last] = c
	return Handle(last<<chunkBits | off)
}

// storeLong keeps s in a string of its own. (Its handle is never
// NoHandle: that would take 2^31-1 long values, over 8 TiB.)
func (in *Interner) storeLong(s string) Handle {
	in.long = append(in.long, strings.Clone(s))
	return Handle(longBit | (len(in.long) - 1))
}

// value returns the string of handle h: a slice of the arena (whose bytes
// are never written again) or a long value. in.mu is held.
func (in *Interner) value(h Handle) string {
	if h&longBit != 0 {
		return in.long[h&^longBit]
	}
	c := in.chunks[h>>chunkBits]
	off := int(h & (chunkStride - 1))
	n, k := binary.Uvarint(c[off:])
	if n == 0 {
		return ""
	}
	return unsafe.String(&c[off+k], int(n))
}

// Put adds b as a value of its own and returns its handle (NoHandle for an
// empty b): stored as Handle stores a value, read back with Value or Read,
// but never shared: Lookup and Handle do not find it, and each Put adds a
// copy. It is for values one holder encodes for itself (a POP3 store's
// reply fields, clients/local_text.go), which the table would only cost a
// slot. in must not be nil.
func (in *Interner) Put(b []byte) Handle {
	if len(b) == 0 {
		return NoHandle
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.store(unsafe.String(&b[0], len(b))) // store copies it
}

// MaxWords bounds the words of an Interner's dictionary (Word).
const MaxWords = 4096

// maxWordLen is the longest word the dictionary takes.
const maxWordLen = 64

// Word returns the index of w in the Interner's dictionary, a list of
// distinct words numbered from 0 in the order they were first given, adding
// w when it is new; false when w is "", longer than 64 bytes, or new while
// the dictionary holds MaxWords words. An encoder writes the index instead
// of the word (a subject's words, clients/local_text.go); WordAt gives it
// back. A word costs its bytes and a length byte in the arena, 4 bytes in
// the list and a slot of its own table. in must not be nil.
func (in *Interner) Word(w string) (uint32, bool) {
	if w == "" || len(w) > maxWordLen {
		return 0, false
	}
	h := in.hash(w)
	in.mu.Lock()
	defer in.mu.Unlock()
	eq := func(ref uint32) bool { return in.value(in.words[ref]) == w }
	if i, ok := in.wordTab.Find(h, eq); ok {
		return i, true
	}
	if len(in.words) == MaxWords {
		return 0, false
	}
	in.words = append(in.words, in.store(w))
	i := uint32(len(in.words) - 1)
	in.wordTab.Insert(h, i, func(ref uint32) uint64 { return in.hash(in.value(in.words[ref])) })
	return i, true
}

// WordAt returns the word of index i, one Word returned, and true; "" and
// false for an index the dictionary does not hold. in must not be nil.
func (in *Interner) WordAt(i uint32) (string, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if uint64(i) >= uint64(len(in.words)) {
		return "", false
	}
	return in.value(in.words[i]), true
}

// Check returns the value of h, as Value does, and true; or "" and false
// when h names no place in the Interner (a handle from corrupted data: a
// decoder's check, which never panics). A handle that points inside a
// value gives part of it: Check only keeps reads within what is stored.
func (in *Interner) Check(h Handle) (string, bool) {
	if h == NoHandle {
		return "", true
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if h&longBit != 0 {
		if i := int(h &^ longBit); i < len(in.long) {
			return in.long[i], true
		}
		return "", false
	}
	if int(h>>chunkBits) >= len(in.chunks) {
		return "", false
	}
	c := in.chunks[h>>chunkBits]
	off := int(h & (chunkStride - 1))
	if off >= len(c) {
		return "", false
	}
	n, k := binary.Uvarint(c[off:])
	if k <= 0 || n > uint64(len(c)-off-k) {
		return "", false
	}
	return in.value(h), true
}
