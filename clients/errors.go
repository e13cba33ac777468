package clients

import "errors"

// ErrNoMessage is returned by Device.Do for an action on a message the
// device does not show.
var ErrNoMessage = errors.New("message not on this device")

// ErrNoSubmitter is returned by send, reply and forward when the device has
// no Submitter.
var ErrNoSubmitter = errors.New("no submitter configured")

// POP3Error is a POP3 -ERR reply.
type POP3Error struct {
	// Command is the command that failed ("RETR").
	Command string
	// Text is the reply text after "-ERR ".
	Text string
}

// Error implements error.
func (e *POP3Error) Error() string { return "pop3: " + e.Command + ": -ERR " + e.Text }
