package mailserver

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// benchServer starts a server with users u0..u(n-1), each with msgs
// messages in INBOX.
func benchServer(b *testing.B, users, msgs int) (*Server, Addrs) {
	b.Helper()
	s := New(Options{})
	for i := 0; i < users; i++ {
		name := fmt.Sprintf("u%d", i)
		if err := s.AddUser(name, "secret"); err != nil {
			b.Fatal(err)
		}
		u := s.store.user(name)
		for j := 0; j < msgs; j++ {
			m, _ := newMessage([]byte(testMessage(fmt.Sprintf("<b%d.%d@test>", i, j), "bench")), nil, time.Now())
			s.deliver(u, "INBOX", m)
		}
	}
	addrs, err := s.Listen(ListenConfig{IMAP: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, addrs
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIMAPMix runs a FETCH/STORE/IDLE-heavy command mix over many
// concurrent IMAP sessions (10 per user, 50 messages per INBOX): 35% UID
// FETCH of flags and headers, 25% UID STORE of a flag, 10% FETCH of a whole
// message, 20% IDLE+DONE, 10% NOOP. Every STORE reaches the user's other
// sessions as unilateral FETCH responses. It reports commands per second
// and CPU per command; clients run in the same process, so the CPU figure
// is client plus server.
func BenchmarkIMAPMix(b *testing.B) {
	for _, sessions := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			users := sessions / 10
			_, addrs := benchServer(b, users, 50)
			clients := make([]*imapclient.Client, sessions)
			for i := range clients {
				conn, err := net.DialTimeout("tcp", addrs.IMAP, 10*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				c := imapclient.New(conn, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
					Fetch: func(msg *imapclient.FetchMessageData) { msg.Collect() },
				}})
				defer c.Close()
				if err := c.Login(fmt.Sprintf("u%d", i%users), "secret").Wait(); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			var next atomic.Int64
			var failed atomic.Value
			runtime.GC()
			cpu0 := cpuTime()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Add(1)
				go func(i int, c *imapclient.Client) {
					defer wg.Done()
					r := rand.New(rand.NewSource(int64(i)))
					for next.Add(1) <= int64(b.N) {
						uid := imap.UIDSetNum(imap.UID(r.Intn(50) + 1))
						var err error
						switch p := r.Intn(100); {
						case p < 35:
							_, err = c.Fetch(uid, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{
								{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "Subject", "Date"}}}}).Collect()
						case p < 60:
							op := imap.StoreFlagsAdd
							if r.Intn(2) == 0 {
								op = imap.StoreFlagsDel
							}
							err = c.Store(uid, &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
						case p < 70:
							_, err = c.Fetch(uid, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
						case p < 90:
							var idle *imapclient.IdleCommand
							if idle, err = c.Idle(); err == nil {
								if err = idle.Close(); err == nil {
									err = idle.Wait()
								}
							}
						default:
							err = c.Noop().Wait()
						}
						if err != nil {
							failed.Store(err)
							return
						}
					}
				}(i, c)
			}
			wg.Wait()
			elapsed := time.Since(start)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/cmd")
		})
	}
}

// BenchmarkIdleSessionMemory opens idle IMAP sessions (logged in, INBOX
// selected, in IDLE) with minimal raw clients and reports the heap and
// stack the process holds per session; the raw clients themselves hold
// only their sockets.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const sessions = 1000
	_, addrs := benchServer(b, 100, 50)
	for n := 0; n < b.N; n++ {
		before := memInUse()
		conns := make([]net.Conn, 0, sessions)
		buf := make([]byte, 4096)
		for i := 0; i < sessions; i++ {
			c, err := net.DialTimeout("tcp", addrs.IMAP, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "a1 LOGIN u%d secret\r\na2 SELECT INBOX\r\na3 IDLE\r\n", i%100)
			var got []byte
			for !bytes.Contains(got, []byte("+ idling")) {
				k, err := c.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				got = append(got, buf[:k]...)
			}
			conns = append(conns, c)
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/sessions, "B/session")
		for _, c := range conns {
			c.Write([]byte("DONE\r\na4 LOGOUT\r\n"))
			c.Close()
		}
	}
}

func memInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// BenchmarkLMTPDelivery delivers one small message per iteration over a
// few concurrent LMTP connections, each transaction to two local users,
// and reports stored messages per second.
func BenchmarkLMTPDelivery(b *testing.B) {
	const conns = 4
	s, _ := benchServer(b, 100, 0)
	addrs, err := s.Listen(ListenConfig{LMTP: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	msg := testMessage("<lmtp-bench@test>", "bench")
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", addrs.LMTP, 10*time.Second)
			if err != nil {
				failed.Store(err)
				return
			}
			c := smtp.NewClientLMTP(conn)
			defer c.Close()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				rcpts := []string{fmt.Sprintf("u%d@example.com", i%100), fmt.Sprintf("u%d+Lists@example.com", (i+1)%100)}
				if err := c.SendMail("x@example.net", rcpts, strings.NewReader(msg)); err != nil {
					failed.Store(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "stored/s")
}
