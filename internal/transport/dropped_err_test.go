package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

// TestDroppedErr: once the drop timer closed the connection, only the
// errors that close causes (net.ErrClosed, however wrapped) are the
// drop's; a reset or the end of the stream the server sent before it
// stays the server's, and nothing is the drop's before it.
func TestDroppedErr(t *testing.T) {
	closed := &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name    string
		dropped bool
		err     error
		want    bool // wrapped with ErrDropped
	}{
		{"closed by the drop", true, closed, true},
		{"closed by the drop, wrapped", true, fmt.Errorf("tls: %w", closed), true},
		{"reset before the drop", true, reset, false},
		{"end of stream", true, io.EOF, false},
		{"closed, no drop", false, closed, false},
		{"nil", true, nil, false},
	} {
		var c Conn
		c.dropped.Store(tc.dropped)
		got := c.droppedErr(tc.err)
		if errors.Is(got, ErrDropped) != tc.want {
			t.Errorf("%s: droppedErr(%v) = %v, wrapped %v, want %v", tc.name, tc.err, got, !tc.want, tc.want)
		}
		if tc.err != nil && !errors.Is(got, tc.err) {
			t.Errorf("%s: %v does not wrap %v", tc.name, got, tc.err)
		}
		if got := NetOutcome(c.droppedErr(tc.err)); tc.want && got != OutcomeDropped {
			t.Errorf("%s: outcome %s, want dropped", tc.name, got)
		}
	}
}
