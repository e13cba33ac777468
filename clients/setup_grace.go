package clients

import (
	"context"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// dialWatched dials cfg for a connection whose commands are recorded on
// rec under cfg.Protocol by the stop's rule (StopGrace) from before its
// dial: the dial (the TCP connect, an implicit TLS handshake) and the wait
// for the greeting the caller reads next are one command, CONNECT,
// started (connect) under the returned watch, so that the stop gives them
// its grace, and the caller ends it with w.End(CommandConnect, connect,
// err) once the greeting came or failed. The dial is a transport.Setup,
// the watch's closer: the stop's rule sees the simulated network's holds
// of the handshake (graceStart.overdue). Once ctx has ended nothing is
// dialed (StopGrace.Start, transport.Setup.Dial) and CONNECT counts
// nothing. On a failed dial conn is nil and CONNECT is ended; w is
// returned in every case, and the caller releases it (counting the login
// with w.CountLogin).
func dialWatched(ctx context.Context, rec Recorder, cfg transport.Config, grace time.Duration) (conn *transport.Conn, w *StopGrace, connect time.Time, err error) {
	setup := new(transport.Setup)
	w = WatchStop(ctx, rec, cfg.Protocol, setup, grace)
	connect = w.Start(CommandConnect)
	conn, err = setup.Dial(ctx, cfg)
	if err != nil {
		w.End(CommandConnect, connect, err) // ErrNotDialed: the stop's
		return nil, w, connect, err
	}
	return conn, w, connect, nil
}
