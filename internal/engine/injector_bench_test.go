package engine

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// benchPlan is mustPlan for a benchmark.
func benchPlan(b *testing.B, yaml string) *scenarios.Plan {
	b.Helper()
	s, err := scenarios.Parse("bench.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatalf("scenario: %v", err)
	}
	p, err := scenarios.NewPlan(s, scenarios.PlanOptions{})
	if err != nil {
		b.Fatalf("plan: %v", err)
	}
	return p
}

// processCPU returns this process's user and system CPU time so far.
func processCPU(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkInjectorAppend is one imap-append delivery per op, as the
// side-by-side scenario makes them (scripts/loadbench/imaptest-side.yaml):
// a generated 4 KiB message to one user's INBOX of a private Dovecot,
// through injector.handle with the run's metrics (metrics.Client as the
// Recorder and the Observer), so a session — connect, greeting, LOGIN,
// APPEND, LOGOUT — and its bookkeeping (events, metrics, the audit's
// change). Dovecot is another process, so allocs/op are the harness's
// alone; user-µs/op and sys-µs/op are this process's CPU (getrusage) per
// delivery. Skips without Dovecot.
//
//	go test -run '^$' -bench InjectorAppend -benchtime 2000x ./internal/engine
func BenchmarkInjectorAppend(b *testing.B) {
	inst := dovecottest.Start(b, 1)
	plan := benchPlan(b, appendScenario(1, inst.Password))
	mc := metrics.NewClient(nil)
	e, err := New(Options{Plan: plan, Recorder: mc, Observer: mc, InjectorWorkers: 1, Endpoints: Endpoints{
		IMAP:     transport.Endpoint{Addr: "127.0.0.1:1"}, // devices are built, never started
		Delivery: scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: inst.IMAP, TLS: transport.TLSNone},
	}})
	if err != nil {
		b.Fatal(err)
	}
	u := e.users[0]
	msg := mailgen.Generator{}.New(rand.New(rand.NewPCG(1, 2)), "alice.martin@example.net", []string{u.plan.Address}, 4096, false, time.Now())
	d := delivery{from: msg.From, rcpts: []recipient{{addr: u.plan.Address, user: u, folder: view.FolderInbox}},
		id: msg.ID, raw: msg.Raw, inbound: true, arrival: time.Now()}
	ctx := context.Background()
	var c *smtpConn
	b.ReportAllocs()
	u0, s0 := processCPU(b)
	for b.Loop() {
		e.inj.handle(ctx, &c, d)
	}
	u1, s1 := processCPU(b)
	b.ReportMetric(float64((u1-u0).Microseconds())/float64(b.N), "user-µs/op")
	b.ReportMetric(float64((s1-s0).Microseconds())/float64(b.N), "sys-µs/op")
	if st := e.inj.finish(); st.Delivered != int64(b.N) || st.FailedTotal() != 0 {
		b.Fatalf("stats %+v, want %d delivered", st, b.N)
	}
}
