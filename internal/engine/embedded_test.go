package engine

import (
	"context"
	"testing"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// startEmbedded starts a fresh embedded server on loopback with every user
// of plan, closed when the test ends, and returns the endpoints to run
// against it.
func startEmbedded(tb testing.TB, plan *scenarios.Plan) (*mailserver.Server, Endpoints) {
	tb.Helper()
	srv := mailserver.New(mailserver.Options{})
	tb.Cleanup(func() { srv.Close() })
	for _, u := range plan.Users {
		if err := srv.AddUser(u.Username, u.Password); err != nil {
			tb.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, Endpoints{
		IMAP:       transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSNone},
		POP3:       transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSNone},
		Submission: transport.Endpoint{Addr: addrs.SMTP, TLS: transport.TLSNone},
		Delivery:   scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: addrs.LMTP, TLS: transport.TLSNone},
	}
}

// storeTruth reads the embedded server's store directly for the final audit.
type storeTruth struct{ s *mailserver.Server }

func (st storeTruth) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	return st.s.UserState(user)
}
