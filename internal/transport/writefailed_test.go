package transport_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestWriteFailed: a connection says whether a write to its socket
// failed, also one Cork held for the read that then failed with it (the
// read's error is all its caller sees): clients/smtp.go tells so a
// message data that went out whole from one that did not.
func TestWriteFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		nw   transport.Network
	}{
		{"unshaped", transport.Network{}},
		{"corked", transport.Network{Latency: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp", Endpoint: transport.Endpoint{Addr: addr},
				Timeout: 10 * time.Second, Network: tc.nw})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("HELO x\r\n")); err != nil || conn.WriteFailed() {
				t.Fatalf("write: %v, failed %v; want it sent", err, conn.WriteFailed())
			}
			var werr, rerr error
			if tc.nw.Latency > 0 {
				// The write, held, fails at its deadline, passed, in the read.
				conn.Cork()
				_, werr = conn.Write([]byte("DATA\r\n"))
				_ = conn.SetDeadline(time.Now().Add(-time.Second))
				_, rerr = conn.Read(make([]byte, 1))
			} else {
				_ = conn.Close()
				_, werr = conn.Write([]byte("DATA\r\n"))
			}
			if !conn.WriteFailed() {
				t.Errorf("write %v, read %v: WriteFailed false, want true", werr, rerr)
			}
		})
	}
}
