package transport

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// TestExplainedText: the connection's cause is printed once — after an
// error that does not say it, not after one that quotes it unwrapped (as
// go-imap quotes a read's error: "... i/o timeout (... i/o timeout)") —
// and both stay visible to errors.Is.
func TestExplainedText(t *testing.T) {
	cause := fmt.Errorf("read tcp 127.0.0.1:1->127.0.0.1:2: %w", os.ErrDeadlineExceeded)
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("in response: cannot read tag: %v", cause), "in response: cannot read tag: " + cause.Error()},
		{errors.New("greeting: EOF"), "greeting: EOF (" + cause.Error() + ")"},
	} {
		e := explained{tt.err, cause}
		if e.Error() != tt.want || !errors.Is(e, os.ErrDeadlineExceeded) || !errors.Is(e, tt.err) {
			t.Errorf("%q, want %q (and both under it)", e.Error(), tt.want)
		}
	}
}
