package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// FuzzReplyLimiter feeds arbitrary server bytes, in reads of arbitrary
// sizes, through the bound on go-smtp's replies: it never panics, passes
// the bytes on unchanged, and fails with ErrReplyTooLarge exactly when a
// reply runs past maxReplyLines lines (a model counts the continuation
// lines, NNN-, in a row), after passing no byte of the line that did.
func FuzzReplyLimiter(f *testing.F) {
	for _, seed := range []string{
		"250 ok\r\n",
		"250-a\r\n250-b\r\n250 c\r\n",
		strings.Repeat("250-x\r\n", 99) + "250 end\r\n" + strings.Repeat("250-y\r\n", 99) + "250 end\r\n",
		strings.Repeat("250-x\r\n", 100) + "250 end\r\n",
		strings.Repeat("250-x\n", 150),
		"25-\r\n250\r\n\n\n---\n",
		"",
	} {
		f.Add([]byte(seed), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		l := &replyLimiter{Conn: chunkConn{r: bytes.NewReader(in), n: int(chunk)%64 + 1}}
		var got []byte
		buf := make([]byte, 256)
		var err error
		for range len(in) + 2 {
			var n int
			n, err = l.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		over := -1 // the end of the line that passed the bound, in in
		run, start := 0, 0
		for i, b := range in {
			if b != '\n' {
				continue
			}
			if line := in[start : i+1]; len(line) > 4 && line[3] == '-' {
				run++
			} else {
				run = 0
			}
			start = i + 1
			if run >= maxReplyLines {
				over = i
				break
			}
		}
		if over < 0 {
			if err != io.EOF || !bytes.Equal(got, in) {
				t.Fatalf("within the bound: %d of %d bytes passed, %v", len(got), len(in), err)
			}
			return
		}
		if !errors.Is(err, ErrReplyTooLarge) || !bytes.HasPrefix(in, got) || len(got) > over {
			t.Fatalf("past the bound at byte %d: %d bytes passed, %v", over, len(got), err)
		}
		if _, err2 := l.Read(buf); err2 != err {
			t.Fatalf("a read after the bound: %v, want %v again", err2, err)
		}
	})
}

// chunkConn is a net.Conn whose reads return at most n bytes of r.
type chunkConn struct {
	net.Conn
	r io.Reader
	n int
}

func (c chunkConn) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
