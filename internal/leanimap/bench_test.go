package leanimap

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
)

// BenchmarkClient compares this client with go-imap's imapclient on the
// same embedded server in a child process (this process's CPU and
// allocations are the client's), both over internal/transport's Conn:
// "noop", "fetch20" (UID FETCH 1:* (UID FLAGS) over 20 messages, UIDs and
// flags parsed) and "headers20" (UID FETCH 1:* (UID
// BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]), the literals read) report
// cpu-ns/cmd and allocs/op; "idle" holds MAILSIM_IDLE_DEVICES (500; at
// most 100 on Dovecot) connections logged in, INBOX selected, in IDLE with
// a goroutine waiting on each as a device has, and reports live bytes
// (heap and stacks) and goroutines per connection, once whatever
// -benchtime says.
//
// The same runs against a private Dovecot when it is installed
// (BenchmarkClient/dovecot/...; skipped otherwise), the server that the
// imaptest comparison uses.
//
//	go test -run '^$' -bench Client -benchtime 2000x ./internal/leanimap
func BenchmarkClient(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchClient(b, serverProcess(b), idleConns(b)) })
	b.Run("dovecot", func(b *testing.B) {
		// One Dovecot process per connection: at most 100 idle ones.
		n := min(idleConns(b), 100)
		inst := dovecottest.StartWith(b, 1, dovecottest.Options{IMAPProcessLimit: 2*n + 10})
		benchClient(b, server{"dovecot", inst.IMAP, inst.LMTP, inst.Username(1), inst.Password, inst.Username(1) + "@example.com"}, n)
	})
}

// benchClient runs BenchmarkClient's sub-benchmarks against srv, the idle
// ones with n connections.
func benchClient(b *testing.B, srv server, n int) {
	for i := range 20 {
		raw, _ := message(uint64(i), 2000)
		deliver(b, srv, raw)
	}
	all := imap.UIDSet{{Start: 1, Stop: 0}}
	type client struct{ noop, fetch, headers func() error }
	count := func(n, want int) error {
		if n != want {
			return fmt.Errorf("%d of %d messages", n, want)
		}
		return nil
	}
	goIMAP := func(b *testing.B) client {
		c := imapclient.New(transportConn(b, srv.imap), nil)
		b.Cleanup(func() { c.Close() })
		if err := c.Login(srv.user, srv.pass).Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		flags := &imap.FetchOptions{UID: true, Flags: true}
		hdr := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{
			{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}}}
		return client{
			noop: func() error { return c.Noop().Wait() },
			fetch: func() error {
				msgs, err := c.Fetch(all, flags).Collect()
				if err != nil {
					return err
				}
				return count(len(msgs), 20)
			},
			headers: func() error {
				msgs, err := c.Fetch(all, hdr).Collect()
				if err != nil {
					return err
				}
				return count(len(msgs), 20)
			},
		}
	}
	lean := func(b *testing.B) client {
		c := login(b, srv, Options{})
		if _, err := c.Select("INBOX", false); err != nil {
			b.Fatal(err)
		}
		var n int
		each := func(m *Message) error {
			if m.UID != 0 {
				n++
			}
			return nil
		}
		return client{
			noop: c.Noop,
			fetch: func() error {
				n = 0
				if err := c.UIDFetch(all, "(UID FLAGS)", each); err != nil {
					return err
				}
				return count(n, 20)
			},
			headers: func() error {
				n = 0
				if err := c.UIDFetch(all, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])", each); err != nil {
					return err
				}
				return count(n, 20)
			},
		}
	}
	for _, impl := range []struct {
		name string
		dial func(*testing.B) client
	}{{"goimap", goIMAP}, {"lean", lean}} {
		for _, cmd := range []string{"noop", "fetch20", "headers20"} {
			b.Run(impl.name+"/"+cmd, func(b *testing.B) {
				c := impl.dial(b)
				f := map[string]func() error{"noop": c.noop, "fetch20": c.fetch, "headers20": c.headers}[cmd]
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
	for _, impl := range []string{"goimap", "lean"} {
		b.Run(impl+"/idle", func(b *testing.B) {
			for range 1 { // one measurement whatever b.N
				g0, m0 := runtime.NumGoroutine(), liveMem()
				ctx, cancel := context.WithCancel(context.Background())
				ready := make(chan error, n)
				done := make(chan struct{}, n)
				for range n {
					go func() {
						defer func() { done <- struct{}{} }()
						if impl == "lean" {
							holdLean(ctx, b, srv, ready)
						} else {
							holdGoIMAP(ctx, b, srv, ready)
						}
					}()
				}
				var failed error
				for range n {
					if err := <-ready; err != nil && failed == nil {
						failed = err
					}
				}
				if failed == nil {
					time.Sleep(500 * time.Millisecond)
					m1, g1 := liveMem(), runtime.NumGoroutine()
					per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
					b.ReportMetric(per(m0.HeapInuse+m0.StackInuse, m1.HeapInuse+m1.StackInuse), "bytes/conn")
					b.ReportMetric(per(m0.HeapAlloc, m1.HeapAlloc), "objects-B/conn")
					b.ReportMetric(per(m0.StackInuse, m1.StackInuse), "stack-B/conn")
					b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/conn")
				}
				cancel()
				for range n {
					<-done
				}
				if failed != nil {
					b.Fatal(failed)
				}
			}
		})
	}
}

// transportConn dials addr through internal/transport; closed with b.
func transportConn(tb testing.TB, addr string) *transport.Conn {
	conn, err := dialTransport(context.Background(), addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// dialTransport dials addr through internal/transport.
func dialTransport(ctx context.Context, addr string) (*transport.Conn, error) {
	return transport.Dial(ctx, transport.Config{
		Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 30 * time.Second})
}

// holdLean holds one lean connection in IDLE until ctx ends, its goroutine
// waiting in Wait as a device's would.
func holdLean(ctx context.Context, tb testing.TB, srv server, ready chan<- error) {
	conn, err := dialTransport(ctx, srv.imap)
	if err != nil {
		ready <- err
		return
	}
	defer conn.Close()
	c, err := New(conn, Options{})
	if err == nil {
		err = c.Login(srv.user, srv.pass)
	}
	if err == nil {
		_, err = c.Select("INBOX", false)
	}
	if err == nil {
		err = c.Idle()
	}
	ready <- err
	for err == nil {
		_, err = c.Wait(ctx, time.Hour)
	}
}

// holdGoIMAP holds one go-imap connection in IDLE until ctx ends, waiting
// as the devices do (a select on ctx and the client).
func holdGoIMAP(ctx context.Context, tb testing.TB, srv server, ready chan<- error) {
	conn, err := dialTransport(ctx, srv.imap)
	if err != nil {
		ready <- err
		return
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(srv.user, srv.pass).Wait(); err != nil {
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

// idleConns is $MAILSIM_IDLE_DEVICES, default 500.
func idleConns(b *testing.B) int {
	n := 500
	if v := os.Getenv("MAILSIM_IDLE_DEVICES"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > 10000 {
			b.Fatalf("MAILSIM_IDLE_DEVICES=%q: want 1..10000", v)
		}
	}
	return n
}

// cpuTime is the process's user and system CPU so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveMem returns the memory statistics after two GCs.
func liveMem() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}
