package clients

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
)

func benchPOP3Device(b *testing.B, srv *testPOP3, i int) *pop3Device {
	b.Helper()
	d, err := New(Options{
		ID: fmt.Sprintf("u%d/pc-pop3", i),
		Profile: &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3,
			LeaveOnServer: true, DeleteWhenDeletedLocally: true, DeleteAfter: 14 * 24 * time.Hour},
		Username: "alice", Password: "secret", Address: "alice@example.com",
		POP3: transport.Endpoint{Addr: srv.addr()}, Clock: c2Clock(), Seed: int64(i), Timeout: 10 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	return d.(*pop3Device)
}

func benchMailbox(b *testing.B, n int) *testPOP3 {
	srv := newTestPOP3(b, "alice", "secret")
	g := mailgen.Generator{}
	r := rand.New(rand.NewPCG(1, 1))
	for range n {
		srv.deliver(g.New(r, "bob@example.com", []string{"alice@example.com"}, 4000, false, time.Now()).Raw)
	}
	return srv
}

// BenchmarkPOP3DeviceMemory reports the heap a polling POP3 device keeps
// between polls (no connection open) after downloading a 20-message
// mailbox.
func BenchmarkPOP3DeviceMemory(b *testing.B) {
	const devices = 200
	srv := benchMailbox(b, 20)
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		devs := make([]*pop3Device, devices)
		for i := range devs {
			devs[i] = benchPOP3Device(b, srv, i)
			if err := devs[i].Poll(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/devices, "heap-B/device")
		runtime.KeepAlive(devs)
		b.StartTimer()
	}
}

// BenchmarkPOP3Poll measures one client-side poll with nothing new: CAPA,
// AUTH, STAT, LIST, UIDL, QUIT (6 commands) over a fresh connection.
func BenchmarkPOP3Poll(b *testing.B) {
	srv := benchMailbox(b, 20)
	d := benchPOP3Device(b, srv, 0)
	if err := d.Poll(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Poll(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
