package clients

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestIMAPAppendShaped: a phone on a network with latency (its profile's
// network) sends a message of 100 KiB, which it APPENDs to Drafts and
// then to Sent, with either IMAP client, plain and over TLS, against the
// embedded server: the message's literal leaves in one write the shaping
// holds back the latency once, as a real TCP stream carries it, not once
// for each piece the client (go-imap's 4 KiB buffer) or crypto/tls's
// records (about 1 KiB each at first) write it in. The lean client sends
// the command line with its literal (LITERAL+): one write an APPEND;
// go-imap waits for the server's continuation before a literal over
// 4 KiB, LITERAL+ or not: two, the command line and the literal. Before
// 2026-12-04 go-imap's APPENDs took 3 shaped writes each, 11 and 10 over
// TLS, and the lean client's 11 and 7 over TLS.
func TestIMAPAppendShaped(t *testing.T) {
	const latency = 2 * time.Millisecond
	env, cliTLS := newIMAPTLSEnv(t)
	addrs := env.addrs
	// The shaped writes of one APPEND, by client.
	want := map[string]string{IMAPClientLean: "APPEND×1", IMAPClientGoIMAP: "APPEND×2"}
	for _, client := range IMAPClients {
		for _, ep := range []transport.Endpoint{{Addr: addrs.IMAP, TLS: transport.TLSNone}, {Addr: addrs.IMAPS, TLS: transport.TLSImplicit}} {
			t.Run(client+"/"+string(ep.TLS), func(t *testing.T) {
				env.client = client
				rec := &shapeRecorder{}
				o := env.options(KindPhone, rec, func(p *Profile) { p.Network = transport.Network{Latency: latency} })
				o.IMAP, o.TLS = ep, cliTLS
				o.Profile.PollInterval = time.Hour
				d := startDevice(t, o)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := d.Do(ctx, Action{Kind: ActSend, To: []string{"bob@example.com"}, Size: 100 << 10}); err != nil {
					t.Fatalf("send: %v", err)
				}
				rec.smu.Lock()
				defer rec.smu.Unlock()
				var appends []string
				for _, c := range rec.per {
					if strings.HasPrefix(c, "APPEND×") {
						appends = append(appends, c)
					}
				}
				if w := want[client]; strings.Join(appends, " ") != w+" "+w {
					t.Errorf("shaped writes of the APPENDs %v, want %s twice (all commands: %v)", appends, w, rec.per)
				}
			})
		}
	}
}
