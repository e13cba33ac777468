package transport_test

import (
	"strconv"

	"github.com/emersion/go-imap/v2"
)

var (
	seqAll    = imap.SeqSet{{Start: 1, Stop: 0}}
	fetchBody = &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
)

func itoa(n int) string { return strconv.Itoa(n) }
