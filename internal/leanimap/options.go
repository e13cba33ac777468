package leanimap

import (
	"fmt"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// DefaultTimeout bounds one command (write and every read of its
// responses) when Options.Timeout is zero.
const DefaultTimeout = transport.DefaultTimeout

// DefaultMaxKept bounds the responses whose data one command keeps when
// Options.MaxKept is zero: 16 MiB, the SEARCH of two million messages,
// the bound of a data line on the go-imap paths too.
const DefaultMaxKept = transport.DefaultMaxDataLine

// readBufSize is the per-connection read buffer: responses longer than it
// are assembled in the client's response buffer, which is released after a
// command when it grew past keepResp. The flag lists' scratch list
// (flagList) is released likewise past keepFlags flags (a server's list
// of thousands would otherwise stay pinned for the connection's life).
const (
	readBufSize = 2048
	keepResp    = 64 << 10
	keepFlags   = 256
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// Timeout bounds each command, from its write to its tagged
	// completion (default DefaultTimeout).
	Timeout time.Duration
	// MaxLine bounds one response line, literals excluded (default
	// transport.DefaultMaxLine), but for the SEARCH or SORT response a
	// UIDSearch or UIDSort collects: that line, whose UIDs grow with the
	// mailbox, is bounded by MaxKept (transport.IsDataLine).
	MaxLine int
	// MaxLiteral bounds one literal of a response (default
	// transport.DefaultMaxLiteral); a whole response is bounded by
	// MaxLiteral plus MaxLine.
	MaxLiteral int64
	// MaxKept bounds the bytes of the responses whose data one command
	// keeps until it completes (default DefaultMaxKept): the UIDs of
	// SEARCH and SORT responses (one line each, of MaxKept at most),
	// the entries of LIST and LSUB responses (each within MaxLine). Past it the command fails with an
	// error wrapping transport.ErrReplyTooLarge: a server whose responses
	// never end cannot make the client hold more (a UID takes 4 bytes
	// kept for at least 2 on the wire).
	MaxKept int64
	// Caps, shared by the clients of a run, keeps the capability lists
	// read so far, so that a list read again is not parsed again (see
	// CapCache). Nil: every list is parsed.
	Caps *CapCache
	// Handler receives the unsolicited updates (EXISTS, EXPUNGE, FETCH,
	// FLAGS, BYE) of any command; nil ignores them.
	Handler Handler
}

// Validate returns every problem of o.
func (o Options) Validate() []error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("leanimap: Timeout %v is negative", o.Timeout))
	}
	if o.MaxLine < 0 {
		errs = append(errs, fmt.Errorf("leanimap: MaxLine %d is negative", o.MaxLine))
	}
	if o.MaxLiteral < 0 {
		errs = append(errs, fmt.Errorf("leanimap: MaxLiteral %d is negative", o.MaxLiteral))
	}
	if o.MaxKept < 0 {
		errs = append(errs, fmt.Errorf("leanimap: MaxKept %d is negative", o.MaxKept))
	}
	return errs
}

func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxLine == 0 {
		o.MaxLine = transport.DefaultMaxLine
	}
	if o.MaxLiteral == 0 {
		o.MaxLiteral = transport.DefaultMaxLiteral
	}
	if o.MaxKept == 0 {
		o.MaxKept = DefaultMaxKept
	}
	return o
}
