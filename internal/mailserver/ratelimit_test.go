package mailserver

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// durationRecorder is a countingRecorder that also sums the recorded
// command durations per protocol.
type durationRecorder struct {
	*countingRecorder
	mu    sync.Mutex
	total map[string]time.Duration
	n     map[string]int
}

func newDurationRecorder() *durationRecorder {
	return &durationRecorder{countingRecorder: newCountingRecorder(), total: map[string]time.Duration{}, n: map[string]int{}}
}

func (r *durationRecorder) Command(protocol, command, outcome string, d time.Duration) {
	r.countingRecorder.Command(protocol, command, outcome, d)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total[protocol] += d
	r.n[protocol]++
}

func (r *durationRecorder) commands(protocol string) (int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[protocol], r.total[protocol]
}

// limitedServer starts a server like testServer with a command rate limit
// of rate whose bucket runs on clock.
func limitedServer(t *testing.T, rate float64, clock *virtualClock, rec Recorder) (*Server, Addrs) {
	t.Helper()
	s, addrs := testServer(t, Options{Recorder: rec, MaxCommandsPerSecond: rate, now: clock.now})
	if s.limit == nil || s.limit.rate != rate {
		t.Fatalf("MaxCommandsPerSecond %v: limiter %+v", rate, s.limit)
	}
	return s, addrs
}

// drain takes every token of l at its clock's current time.
func drain(l *limiter) {
	for l.reserve(l.now()) == 0 {
	}
	l.unreserve()
}

// waitClosed waits (boundedly) until the server has no open connection of
// proto: every command of it has been recorded.
func waitClosed(t *testing.T, rec *countingRecorder, proto string) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for rec.open(proto) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s connections still open", proto)
		}
		time.Sleep(time.Millisecond)
	}
}

// rateSessions are one short session per protocol: lines sent one at a
// time, each answered by a line starting with the reply prefix.
var rateSessions = []struct {
	proto    string
	addr     func(Addrs) string
	greeting string
	steps    [][2]string // line sent, reply prefix awaited
	commands int         // command lines among them
}{
	{ProtoIMAP, func(a Addrs) string { return a.IMAP }, "* OK", [][2]string{
		{"a1 LOGIN alice secret", "a1 OK"}, {"a2 SELECT INBOX", "a2 OK"}, {"a3 NOOP", "a3 OK"},
		{"a4 APPEND INBOX {9+}\r\nSubject:\n", "a4 OK"}, {"a5 IDLE", "+"}, {"DONE", "a5 OK"}, {"a6 LOGOUT", "a6 OK"},
	}, 6},
	{ProtoPOP3, func(a Addrs) string { return a.POP3 }, "+OK", [][2]string{
		{"AUTH PLAIN", "+"}, {"*", "-ERR"}, {"USER alice", "+OK"}, {"PASS secret", "+OK"}, {"STAT", "+OK"}, {"QUIT", "+OK"},
	}, 5},
	{ProtoSMTP, func(a Addrs) string { return a.SMTP }, "220", [][2]string{
		{"EHLO test", "250 "}, {"NOOP", "250"}, {"RSET", "250"}, {"QUIT", "221"},
	}, 4},
	{ProtoLMTP, func(a Addrs) string { return a.LMTP }, "220", [][2]string{
		{"LHLO test", "250 "}, {"MAIL FROM:<x@example.net>", "250"}, {"RCPT TO:<alice@example.com>", "250"},
		{"DATA", "354"}, {"Message-ID: <r@test>\r\nSubject: rate\r\n\r\nNOOP\r\nQUIT\r\n.", "250"}, {"QUIT", "221"},
	}, 5},
}

// TestRateLimitEveryProtocol runs a session of each protocol against an
// empty bucket on a frozen clock: every command line takes exactly one
// token and waits for it (message data, literals, IDLE's DONE and SASL
// lines take none), and the wait counts in the recorded command durations.
func TestRateLimitEveryProtocol(t *testing.T) {
	for _, tt := range rateSessions {
		t.Run(tt.proto, func(t *testing.T) {
			rec := newDurationRecorder()
			clock := newVirtualClock()
			srv, addrs := limitedServer(t, 200, clock, rec)
			drain(srv.limit)
			r := newRaw(t, tt.addr(addrs))
			r.until(tt.greeting)
			r.steps(tt.steps)
			waitClosed(t, rec.countingRecorder, tt.proto)
			n, total := rec.commands(tt.proto)
			st := srv.LimiterStats()
			if n != tt.commands || st.Granted != int64(tt.commands) || st.Waited != int64(tt.commands) || st.Cancelled != 0 {
				t.Errorf("%d commands recorded, limiter %+v; want %d granted, all after waiting", n, st, tt.commands)
			}
			if total < st.WaitTime {
				t.Errorf("recorded command time %v is less than the time waited for tokens %v", total, st.WaitTime)
			}
		})
	}
}

// TestRateLimitOff checks that without MaxCommandsPerSecond nothing is
// limited or counted.
func TestRateLimitOff(t *testing.T) {
	rec := newCountingRecorder()
	srv, addrs := testServer(t, Options{Recorder: rec})
	if srv.limit != nil {
		t.Fatalf("limiter %+v without MaxCommandsPerSecond", srv.limit)
	}
	r := newRaw(t, addrs.IMAP)
	r.until("* OK")
	r.send("a1 NOOP\r\na2 LOGOUT\r\n")
	r.until("a2 OK")
	if st := srv.LimiterStats(); st != (LimiterStats{}) {
		t.Errorf("stats = %+v", st)
	}
}

// TestRateLimitCloseEndsWaits leaves commands of every protocol waiting
// for tokens that never come; Close must end their waits and return, and
// the commands are recorded as failed.
func TestRateLimitCloseEndsWaits(t *testing.T) {
	rec := newCountingRecorder()
	clock := newVirtualClock()
	srv, addrs := limitedServer(t, 0.001, clock, rec)
	drain(srv.limit)
	conns := []struct {
		addr, greeting, line, key string
	}{
		{addrs.IMAP, "* OK", "a1 NOOP", "imap NOOP error"},
		{addrs.IMAP, "* OK", "a1 CAPABILITY", "imap CAPABILITY error"},
		{addrs.POP3, "+OK", "STAT", "pop3 STAT error"},
		{addrs.POP3, "+OK", "CAPA", "pop3 CAPA error"},
		{addrs.SMTP, "220", "EHLO x", "smtp EHLO error"},
		{addrs.LMTP, "220", "LHLO x", "lmtp LHLO error"},
	}
	for _, c := range conns {
		r := newRaw(t, c.addr)
		r.until(c.greeting)
		r.send(c.line + "\r\n")
	}
	waitReserved(t, srv.limit, len(conns))
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Close hangs while commands wait for tokens")
	}
	if st := srv.LimiterStats(); st != (LimiterStats{Cancelled: int64(len(conns))}) {
		t.Errorf("stats = %+v, want %d cancelled", st, len(conns))
	}
	// A connection's last command is recorded as it closes, which can be
	// just after Close returned: wait for the counts, bounded.
	for _, c := range conns {
		for deadline := time.Now().Add(testDeadline); rec.count(c.key) < 1 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := rec.count(c.key); n != 1 {
			rec.mu.Lock()
			t.Errorf("%q recorded %d times, want 1; recorded %v", c.key, n, rec.commands)
			rec.mu.Unlock()
		}
	}
}

// TestRateLimitManyConnections shares the bucket between many connections
// of every protocol at once (run it with -race): on a frozen clock exactly
// the commands past the burst wait, and every command is served.
func TestRateLimitManyConnections(t *testing.T) {
	rec := newCountingRecorder()
	clock := newVirtualClock()
	const rate, perProto, noops = 200, 6, 11
	srv, addrs := limitedServer(t, rate, clock, rec)
	type proto struct{ addr, noop, quit string }
	protos := []proto{
		{addrs.IMAP, "t NOOP", "t LOGOUT"},
		{addrs.POP3, "NOOP", "QUIT"},
		{addrs.SMTP, "NOOP", "QUIT"},
		{addrs.LMTP, "NOOP", "QUIT"},
	}
	var wg sync.WaitGroup
	errs := make(chan error, perProto*len(protos))
	for _, p := range protos {
		for i := 0; i < perProto; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- rateSession(p.addr, p.noop, p.quit, noops)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{ProtoIMAP, ProtoPOP3, ProtoSMTP, ProtoLMTP} {
		waitClosed(t, rec, p)
	}
	want := int64(len(protos) * perProto * (noops + 1))
	st := srv.LimiterStats()
	if st.Granted != want || st.Waited != want-rate || st.Cancelled != 0 {
		t.Errorf("stats = %+v, want %d granted, %d of them after waiting", st, want, want-rate)
	}
}

// rateSession reads the greeting, sends n no-op commands one by one, then
// quit, each awaiting its one-line reply; it returns the first failure. It
// runs off the test goroutine.
func rateSession(addr, noop, quit string, n int) error {
	c, err := net.DialTimeout("tcp", addr, testDeadline)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testDeadline))
	buf := make([]byte, 0, 4096)
	await := func(what string) error {
		for !strings.Contains(string(buf), "\n") {
			tmp := make([]byte, 512)
			k, err := c.Read(tmp)
			buf = append(buf, tmp[:k]...)
			if err != nil {
				return fmt.Errorf("%s: awaiting reply to %q: %w", addr, what, err)
			}
		}
		i := strings.IndexByte(string(buf), '\n')
		buf = buf[i+1:]
		return nil
	}
	if err := await("greeting"); err != nil {
		return err
	}
	for i := 0; i <= n; i++ {
		line := noop
		if i == n {
			line = quit
		}
		if _, err := io.WriteString(c, line+"\r\n"); err != nil {
			return err
		}
		if err := await(line); err != nil {
			return err
		}
	}
	return nil
}

// chunkConn is a net.Conn whose reads return the given chunks in turn, then
// io.EOF, for driving a meter without a network.
type chunkConn struct {
	net.Conn
	chunks []string
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (*chunkConn) Close() error { return nil }

// TestMeterReleasesCommandByCommand reads pipelined client bytes through a
// throttled meter: each Read hands the server at most up to the end of the
// next command line, and a command's token is taken exactly when its line
// end is handed over; literal and continuation lines take none.
func TestMeterReleasesCommandByCommand(t *testing.T) {
	tests := []struct {
		name   string
		smtp   bool
		chunks []string
		bufLen int
		want   []string // each Read's bytes, with the tokens granted after it
	}{
		{"imap pipelined", false, []string{"a1 NOOP\r\na2 NOOP\r\na3 SEL"}, 64,
			[]string{"a1 NOOP\r\n 1", "a2 NOOP\r\n 2", "a3 SEL 2", "EOF"}},
		{"imap small reads", false, []string{"a1 NOOP\r\na2 X\r\n"}, 4,
			[]string{"a1 N 0", "OOP\r 0", "\n 1", "a2  1", "X\r\n 2", "EOF"}},
		{"imap literal", false, []string{"a1 APPEND INBOX {6+}\r\nab\ncd\r\n", "a2 NOOP\r\n"}, 64,
			[]string{"a1 APPEND INBOX {6+}\r\n 1", "ab\ncd\r\n 1", "a2 NOOP\r\n 2", "EOF"}},
		{"smtp pipelined", true, []string{"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"}, 64,
			[]string{"MAIL FROM:<a@b>\r\n 1", "RCPT TO:<c@d>\r\n 2", "EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := New(Options{MaxCommandsPerSecond: 1000})
			defer srv.Close()
			conn := &chunkConn{chunks: append([]string(nil), tt.chunks...)}
			var m *meter
			if tt.smtp {
				m = &newSMTPMeter(conn, nopRecorder{}, ProtoSMTP).meter
			} else {
				m = &newIMAPMeter(conn, nopRecorder{}).meter
			}
			m.throttle(srv)
			var got []string
			buf := make([]byte, tt.bufLen)
			for i := 0; i < 20; i++ {
				n, err := m.Read(buf)
				if err == io.EOF && n == 0 {
					got = append(got, "EOF")
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s %d", buf[:n], srv.LimiterStats().Granted))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("reads = %q\nwant    %q", got, tt.want)
			}
		})
	}
}
