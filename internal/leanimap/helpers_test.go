package leanimap

import (
	"errors"
	"io"

	"github.com/emersion/go-imap/v2"
)

func errorAs[T error](err error, target *T) bool { return errors.As(err, target) }

func errorIs(err, target error) bool { return errors.Is(err, target) }

// errUnexpectedEOF is io.ErrUnexpectedEOF, named for the tables.
var errUnexpectedEOF = io.ErrUnexpectedEOF

// imapAll is 1:*.
var imapAll = imap.UIDSet{{Start: 1, Stop: 0}}
