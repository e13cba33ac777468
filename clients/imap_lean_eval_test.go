package clients

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// This file evaluates the lean synchronous IMAP client of issue 14 before
// anyone builds it (docs/performance.md, "A lean synchronous client"): a
// throw-away client, leanIMAP, that writes one command and reads its
// responses on the caller's goroutine, against go-imap's imapclient used
// directly, on the same embedded server in a child process. It measures
// what the client library costs, not what a device costs: no recorder,
// no device view. leanIMAP is a measuring instrument, not a client for
// production (its parser is minimal and not fuzzed).

// leanIMAP is a minimal synchronous IMAP client: one command at a time,
// responses read on the caller's goroutine, no goroutine of its own.
type leanIMAP struct {
	conn net.Conn
	br   *bufio.Reader
	tag  int
	out  []byte // the command being written, reused
	line []byte // a response line longer than br's buffer, reused
}

// leanBufSize is leanIMAP's read buffer: a response line longer than it is
// assembled in line.
const leanBufSize = 1024

// dialLean connects to addr, reads the greeting and logs in.
func dialLean(addr, user, pass string) (*leanIMAP, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &leanIMAP{conn: conn, br: bufio.NewReaderSize(conn, leanBufSize)}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.readLine(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := c.run(func(b []byte) []byte {
		return fmt.Appendf(b, "LOGIN %s %s", strconv.Quote(user), strconv.Quote(pass))
	}, nil); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// readLine returns the next response line without CRLF, literals
// excluded (see run); valid until the next read.
func (c *leanIMAP) readLine() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.line = append(c.line[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(c.line) > 64<<10 {
				return nil, errors.New("response line over 64 KiB")
			}
			b, err = c.br.ReadSlice('\n')
			c.line = append(c.line, b...)
		}
		b = c.line
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(b, "\r\n"), nil
}

// run sends the command that cmd appends (without tag and CRLF) and reads
// responses up to its tagged completion, giving each untagged line to
// untagged (nil: ignored) with any literal it announces discarded. A
// tagged NO or BAD is an error.
func (c *leanIMAP) run(cmd func([]byte) []byte, untagged func(line []byte)) error {
	c.tag++
	c.out = strconv.AppendInt(append(c.out[:0], 'a'), int64(c.tag), 10)
	c.out = cmd(append(c.out, ' '))
	c.out = append(c.out, "\r\n"...)
	if _, err := c.conn.Write(c.out); err != nil {
		return err
	}
	tag := c.out[:bytes.IndexByte(c.out, ' ')+1]
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if rest, ok := bytes.CutPrefix(line, tag); ok {
			if !bytes.HasPrefix(rest, []byte("OK")) {
				return fmt.Errorf("%s", rest)
			}
			return nil
		}
		if untagged != nil {
			untagged(line)
		}
		if n, ok := literalLen(line); ok {
			if _, err := c.br.Discard(n); err != nil {
				return err
			}
		}
	}
}

// literalLen returns N of a line ending in {N}.
func literalLen(line []byte) (int, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(line[i+1 : len(line)-1]))
	return n, err == nil
}

// idle sends IDLE and waits for the continuation; then the caller's
// goroutine waits in waitIdle.
func (c *leanIMAP) idle() error {
	c.tag++
	c.out = fmt.Appendf(c.out[:0], "a%d IDLE\r\n", c.tag)
	if _, err := c.conn.Write(c.out); err != nil {
		return err
	}
	line, err := c.readLine()
	if err != nil {
		return err
	}
	if len(line) == 0 || line[0] != '+' {
		return fmt.Errorf("IDLE: %s", line)
	}
	return nil
}

// waitIdle blocks on the connection until the server sends something or
// the connection is closed: the device's goroutine is the reader.
func (c *leanIMAP) waitIdle() error {
	_, err := c.br.Peek(1)
	return err
}

// fetchFlags parses "* N FETCH (UID u FLAGS (...))" as a device must: the
// UID and the flags.
func fetchFlags(line []byte, fn func(uid uint32, flags [][]byte)) {
	i := bytes.Index(line, []byte("UID "))
	j := bytes.Index(line, []byte("FLAGS ("))
	if i < 0 || j < 0 {
		return
	}
	uidEnd := i + 4
	for uidEnd < len(line) && line[uidEnd] >= '0' && line[uidEnd] <= '9' {
		uidEnd++
	}
	uid, _ := strconv.ParseUint(string(line[i+4:uidEnd]), 10, 32)
	end := bytes.IndexByte(line[j:], ')')
	if end < 0 {
		return
	}
	fn(uint32(uid), bytes.Fields(line[j+7:j+end]))
}

// TestLeanIMAPAgainstEmbedded checks the instrument: leanIMAP logs in,
// selects, fetches 3 delivered messages' UIDs and flags, stores a flag
// that the next fetch shows, and idles until the server reports a new
// message.
func TestLeanIMAPAgainstEmbedded(t *testing.T) {
	env := newIMAPEnv(t)
	for i := 0; i < 3; i++ {
		env.deliver(t, 500)
	}
	c, err := dialLean(env.addrs.IMAP, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.run(func(b []byte) []byte { return append(b, "SELECT INBOX"...) }, nil); err != nil {
		t.Fatal(err)
	}
	fetch := func() map[uint32]string {
		got := map[uint32]string{}
		err := c.run(func(b []byte) []byte { return append(b, "UID FETCH 1:* (UID FLAGS)"...) }, func(line []byte) {
			fetchFlags(line, func(uid uint32, flags [][]byte) {
				var kept [][]byte
				for _, f := range flags {
					if !bytes.EqualFold(f, []byte(`\Recent`)) {
						kept = append(kept, f)
					}
				}
				got[uid] = string(bytes.Join(kept, []byte(" ")))
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := fetch(); len(got) != 3 || got[2] != "" {
		t.Fatalf("fetch: %v, want UIDs 1..3 without flags (\\Recent aside)", got)
	}
	if err := c.run(func(b []byte) []byte { return append(b, `UID STORE 2 +FLAGS.SILENT (\Seen)`...) }, nil); err != nil {
		t.Fatal(err)
	}
	if got := fetch(); got[2] != `\Seen` || got[1] != "" {
		t.Fatalf("after STORE: %v, want only UID 2 \\Seen", got)
	}
	if err := c.idle(); err != nil {
		t.Fatal(err)
	}
	env.deliver(t, 500)
	if err := c.waitIdle(); err != nil {
		t.Fatal(err)
	}
	line, err := c.readLine()
	if err != nil || !bytes.HasSuffix(line, []byte("EXISTS")) {
		t.Fatalf("in IDLE: %q, %v; want * 4 EXISTS", line, err)
	}
}

// BenchmarkLeanIMAPEvaluation compares leanIMAP with go-imap's client on
// the same server (child process): "idle" holds MAILSIM_IDLE_DEVICES (500)
// connections logged in, INBOX selected and IDLEing, each with a waiting
// goroutine as a device has, and reports live bytes (heap + stacks) and
// goroutines per connection; "noop" and "fetch20" (UID FETCH 1:* (UID
// FLAGS) over 20 messages, UIDs and flags parsed) report the client's CPU
// per command and allocations. The idle sub-benchmarks measure once,
// whatever -benchtime says.
//
//	go test -run '^$' -bench LeanIMAPEvaluation -benchtime 2000x ./clients
func BenchmarkLeanIMAPEvaluation(b *testing.B) {
	env := startServerProcess(b)
	for i := 0; i < 20; i++ {
		env.deliverB(b, 2000)
	}
	type client struct {
		noop, fetch func() error
		close       func()
	}
	goIMAP := func(b *testing.B) client {
		conn, err := net.DialTimeout("tcp", env.addrs.IMAP, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c := imapclient.New(conn, nil)
		if err := c.Login("alice", "secret").Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
		opts := &imap.FetchOptions{UID: true, Flags: true}
		return client{
			noop: func() error { return c.Noop().Wait() },
			fetch: func() error {
				msgs, err := c.Fetch(all, opts).Collect()
				if err == nil && len(msgs) != 20 {
					err = fmt.Errorf("%d of 20 messages", len(msgs))
				}
				return err
			},
			close: func() { _ = c.Close() },
		}
	}
	lean := func(b *testing.B) client {
		c, err := dialLean(env.addrs.IMAP, "alice", "secret")
		if err != nil {
			b.Fatal(err)
		}
		if err := c.run(func(b []byte) []byte { return append(b, "SELECT INBOX"...) }, nil); err != nil {
			b.Fatal(err)
		}
		var n int
		count := func(uint32, [][]byte) { n++ }
		return client{
			noop: func() error { return c.run(func(b []byte) []byte { return append(b, "NOOP"...) }, nil) },
			fetch: func() error {
				n = 0
				err := c.run(func(b []byte) []byte { return append(b, "UID FETCH 1:* (UID FLAGS)"...) },
					func(line []byte) { fetchFlags(line, count) })
				if err == nil && n != 20 {
					err = fmt.Errorf("%d of 20 messages", n)
				}
				return err
			},
			close: func() { _ = c.conn.Close() },
		}
	}
	for _, impl := range []struct {
		name string
		dial func(*testing.B) client
	}{{"goimap", goIMAP}, {"lean", lean}} {
		for _, cmd := range []string{"noop", "fetch20"} {
			b.Run(impl.name+"/"+cmd, func(b *testing.B) {
				c := impl.dial(b)
				defer c.close()
				f := c.noop
				if cmd == "fetch20" {
					f = c.fetch
				}
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/cmd")
			})
		}
	}
	n := idleDevices(b)
	for _, impl := range []string{"goimap", "lean"} {
		b.Run(impl+"/idle", func(b *testing.B) {
			// One measurement whatever b.N (-benchtime is for the
			// command sub-benchmarks).
			for range 1 {
				g0 := runtime.NumGoroutine()
				m0 := liveMem()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ready := make(chan error, n)
				done := make(chan struct{}, n)
				for j := 0; j < n; j++ {
					go func() {
						defer func() { done <- struct{}{} }()
						if impl == "lean" {
							holdLeanIdle(ctx, env.addrs.IMAP, ready)
						} else {
							holdGoIMAPIdle(ctx, env.addrs.IMAP, ready)
						}
					}()
				}
				for j := 0; j < n; j++ {
					if err := <-ready; err != nil {
						b.Fatal(err)
					}
				}
				time.Sleep(500 * time.Millisecond)
				m1 := liveMem()
				g1 := runtime.NumGoroutine()
				reportMem(b, m0, m1, g1-g0, n, "conn")
				cancel()
				for j := 0; j < n; j++ {
					<-done
				}
			}
		})
	}
}

// holdGoIMAPIdle logs in with go-imap, selects INBOX and IDLEs until ctx
// ends, waiting as a device does (a select on ctx and the client).
func holdGoIMAPIdle(ctx context.Context, addr string, ready chan<- error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		ready <- err
		return
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login("alice", "secret").Wait(); err != nil {
		ready <- err
		return
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		ready <- err
		return
	}
	cmd, err := c.Idle()
	ready <- err
	if err != nil {
		return
	}
	select {
	case <-ctx.Done():
	case <-c.Closed():
	}
	_ = cmd.Close()
}

// holdLeanIdle does the same with leanIMAP: the goroutine itself waits on
// the connection, which ctx's end closes.
func holdLeanIdle(ctx context.Context, addr string, ready chan<- error) {
	c, err := dialLean(addr, "alice", "secret")
	if err != nil {
		ready <- err
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer stop()
	defer c.conn.Close()
	err = c.run(func(b []byte) []byte { return append(b, "SELECT INBOX"...) }, nil)
	if err == nil {
		err = c.idle()
	}
	ready <- err
	if err != nil {
		return
	}
	for c.waitIdle() == nil {
		// Unilateral data: read and drop it.
		if _, err := c.readLine(); err != nil {
			return
		}
	}
	_, _ = io.Copy(io.Discard, c.conn)
}
