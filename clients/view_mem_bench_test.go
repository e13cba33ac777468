package clients

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// BenchmarkDeviceViewMemory measures what a device keeps per message it
// holds (its view: the IMAP folders' messages, the POP3 local store), the
// server in a child process. alice's INBOX gets MAILSIM_VIEW_MESSAGES
// messages (default 2,000) over LMTP; then, per device kind, one device
// syncs bob's empty mailbox (the device's fixed cost), one alice's, and a
// second device of alice syncs it too. Each device runs until its view is
// complete and is then stopped (its connections closed), so what is left
// is the view. Metrics, from the live heap (runtime.MemStats.HeapAlloc
// after two GCs), per message held, the fixed cost subtracted:
// B/msg is alice's first device, her interner (Options.IDs: the
// Message-IDs and its table) included; B/msg-2nd is her second device,
// sharing that interner, as the engine's devices of one user do. Run with
// -benchtime=1x:
//
//	go test -run '^$' -bench DeviceViewMemory -benchtime 1x ./clients
func BenchmarkDeviceViewMemory(b *testing.B) {
	n := viewMessages(b)
	env := startServerProcess(b)
	deliverMany(b, env.addrs.LMTP, env, n)
	pop3 := func(p *Profile) { p.Protocol, p.LeaveOnServer = POP3, true }
	for _, k := range []struct {
		name string
		kind Kind
		mod  func(p *Profile)
	}{
		// Whole folders, headers only (the bodies' download is discarded
		// anyway).
		{"imap-pc", KindPC, func(p *Profile) { p.Idle, p.FetchImmediate = false, false }},
		// The phone's window and the webmail page made as large as the
		// mailbox: the per-message structures are what is measured.
		{"imap-phone", KindPhone, func(p *Profile) { p.Window = n }},
		{"webmail", KindWebmail, func(p *Profile) { p.PageSize = n }},
		{"pop3-pc", KindPC, pop3},
	} {
		b.Run(k.name, func(b *testing.B) {
			options := func(user string) Options {
				o := env.options(k.kind, nil, k.mod)
				o.ID, o.Username, o.Address = user+"/"+o.Profile.Name, user, user+"@example.com"
				o.POP3 = transport.Endpoint{Addr: env.addrs.POP3, TLS: transport.TLSNone}
				if k.kind != KindWebmail {
					// A webmail completes its view by paging through the
					// folders, one per refresh: it keeps the env's fast
					// clock.
					o.Clock = simclock.New(1, time.Now())
				}
				o.Timeout = time.Minute
				return o
			}
			for range 1 {
				m0 := liveMem()
				empty := syncedDevice(b, options("bob"), 0)
				m1 := liveMem()
				first := options("alice")
				first.IDs = view.NewInterner() // alice's, shared by her devices
				full := syncedDevice(b, first, n)
				m2 := liveMem()
				second := options("alice")
				second.ID += "-2"
				second.IDs = first.IDs
				full2 := syncedDevice(b, second, n)
				m3 := liveMem()
				held := len(full.View().Messages)
				fixed := float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
				per := func(a, c runtime.MemStats) float64 {
					return (float64(c.HeapAlloc) - float64(a.HeapAlloc) - fixed) / float64(held)
				}
				b.ReportMetric(per(m1, m2), "B/msg")
				b.ReportMetric(per(m2, m3), "B/msg-2nd")
				b.ReportMetric(fixed, "B-fixed/device")
				b.ReportMetric(float64(held), "msgs-held")
				runtime.KeepAlive(empty)
				runtime.KeepAlive(full2)
			}
		})
	}
}

// viewMessages is the number of messages BenchmarkDeviceViewMemory
// delivers: $MAILSIM_VIEW_MESSAGES, default 2,000.
func viewMessages(b *testing.B) int {
	n := 2000
	if v := os.Getenv("MAILSIM_VIEW_MESSAGES"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 10 || n > 20000 {
			b.Fatalf("MAILSIM_VIEW_MESSAGES=%q: want 10..20000", v)
		}
	}
	return n
}

// syncedDevice runs a device until its view shows want messages and has
// completed a sync (bounded by two minutes), stops it and returns it.
func syncedDevice(b *testing.B, o Options, want int) Device {
	b.Helper()
	d, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v := d.View()
		if !v.Synced.IsZero() && len(v.Messages) == want {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			b.Fatalf("%s: %d of %d messages after 2 minutes", o.ID, len(v.Messages), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("%s: %v", o.ID, err)
	}
	return d
}

// deliverMany delivers n new messages to alice over one LMTP connection.
func deliverMany(b *testing.B, addr string, env *imapEnv, n int) {
	b.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		b.Fatal(err)
	}
	for range n {
		m := env.gen.New(env.rng, "Carol Example <carol@example.net>", []string{"alice@example.com"}, 2000, false, time.Now())
		if err := c.SendMail("carol@example.net", []string{"alice@example.com"}, bytes.NewReader(m.Raw)); err != nil {
			b.Fatal(err)
		}
	}
}
