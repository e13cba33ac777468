package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// shapeRecorder is a testRecorder that is also a transport.ShapeMeter: it
// keeps, by protocol, each command with the writes the network shaping
// held back since the protocol's command before ("CMD×n"). Its users run
// one connection of a protocol at a time.
type shapeRecorder struct {
	*testRecorder
	smu     sync.Mutex
	pending map[string]int
	per     map[string][]string
}

func (r *shapeRecorder) Command(ev clients.CommandEvent) {
	r.testRecorder.Command(ev)
	r.smu.Lock()
	defer r.smu.Unlock()
	r.per[ev.Protocol] = append(r.per[ev.Protocol], fmt.Sprintf("%s×%d", ev.Command, r.pending[ev.Protocol]))
	r.pending[ev.Protocol] = 0
}

func (r *shapeRecorder) ShapedWrite(protocol string, _ time.Duration) {
	r.smu.Lock()
	defer r.smu.Unlock()
	r.pending[protocol]++
}

// commands returns protocol's commands and whether each command but
// CONNECT had a shaped write, and no CONNECT had one.
func (r *shapeRecorder) commands(protocol string) (per []string, shaped bool) {
	r.smu.Lock()
	defer r.smu.Unlock()
	per = r.per[protocol]
	shaped = len(per) > 0
	for _, c := range per {
		name, n, _ := strings.Cut(c, "×")
		if (name == clients.CommandConnect) != (n == "0") {
			shaped = false
		}
	}
	return per, shaped
}

// TestDeviceSubmissionShaped: a device on a shaped network (its
// profile's network: latency) sends mail over the run's submission
// server, and every command of its submission but CONNECT is held back
// by the shaping, as its IMAP and POP3 commands are; the injector, the MTA
// side, delivers unshaped.
func TestDeviceSubmissionShaped(t *testing.T) {
	const yaml = `
version: 1
name: shaped-submission
seed: 1
duration: 1s
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: g, share: 100%, devices: [phone], behavior: b}]
behaviors:
  b: {}
devices:
  phone: {kind: phone, protocol: pop3, network: {latency: 2ms}}
`
	plan := mustPlan(t, yaml, scenarios.PlanOptions{})
	_, ep := startEmbedded(t, plan)
	rec := &shapeRecorder{testRecorder: newTestRecorder(), pending: map[string]int{}, per: map[string][]string{}}
	e, err := New(Options{Plan: plan, Endpoints: ep, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	from, to := e.users[0], e.users[1]
	if _, err := from.devices[0].dev.Do(ctx, clients.Action{Kind: clients.ActSend, To: []string{to.plan.Address}, Size: 20_000}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if per, shaped := rec.commands(clients.ProtocolSMTP); !shaped {
		t.Errorf("the phone's submission: shaped writes per command %v, want at least one for every command but CONNECT", per)
	}

	// The injector's delivery: nothing held back.
	var c *smtpConn
	e.inj.handle(ctx, &c, delivery{from: "x@elsewhere.org", id: "<in@test>", raw: []byte("Message-ID: <in@test>\r\n\r\nx\r\n"),
		rcpts: []recipient{{addr: to.plan.Address, user: to, folder: view.FolderInbox}}, inbound: true})
	if c != nil {
		c.close()
	}
	rec.smu.Lock()
	defer rec.smu.Unlock()
	lmtp := rec.per[string(scenarios.DeliverLMTP)]
	if len(lmtp) == 0 {
		t.Fatal("the injector recorded no LMTP command")
	}
	for _, c := range lmtp {
		if !strings.HasSuffix(c, "×0") {
			t.Errorf("the injector's commands %v: a write held back", lmtp)
			break
		}
	}
	t.Logf("shaped writes per command: %v", rec.per)
}
