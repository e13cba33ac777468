package main

import (
	"fmt"
	"io"
)

// cmdServe implements "mailsim serve".
func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	fs.String("imap", "127.0.0.1:1143", "IMAP listen address")
	fs.String("pop3", "127.0.0.1:1110", "POP3 listen address")
	fs.String("smtp", "127.0.0.1:1587", "SMTP submission listen address")
	fs.String("lmtp", "127.0.0.1:1024", "LMTP listen address")
	fs.Int("users", 100, "create users user1..userN")
	fs.String("password", "", "password of every user (default $MAILSIM_PASSWORD, else \"pass\")")
	fs.String("metrics-addr", "", "serve Prometheus /metrics on this address")
	_, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	fmt.Fprintln(stderr, "mailsim serve: not built yet (issue 3)")
	return exitFailure
}
