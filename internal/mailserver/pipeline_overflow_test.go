package mailserver

import (
	"strings"
	"testing"
)

// TestLMTPStartTLSInDataAfterLongPipeline sends, as RFC 2920 allows, MAIL,
// 31 RCPT and DATA in one group: 33 commands, more than the meter keeps
// open (maxPending). A first message line "STARTTLS" is message data: the
// meter must hand it to go-smtp, not answer it and start TLS mid-DATA; the
// message is delivered to every recipient, and no message line is recorded
// (or rate-limited) as a command.
// Without TLS the meter answers nothing itself, but must still follow the
// group's replies to the 354 and take the message lines for data.
func TestLMTPStartTLSInDataAfterLongPipeline(t *testing.T) {
	for _, withTLS := range []bool{true, false} {
		t.Run(map[bool]string{true: "tls", false: "plain"}[withTLS], func(t *testing.T) {
			longPipelineData(t, withTLS)
		})
	}
}

func longPipelineData(t *testing.T, withTLS bool) {
	rec := newCountingRecorder()
	var addrs Addrs
	if withTLS {
		_, addrs, _ = tlsServer(t, Options{Recorder: rec})
	} else {
		_, addrs = testServer(t, Options{Recorder: rec})
	}
	r := newRaw(t, addrs.LMTP)
	r.until("220 ")
	r.ehlo("LHLO")
	const rcpts = 31
	var b strings.Builder
	b.WriteString("MAIL FROM:<bob@example.com>\r\n")
	for range rcpts {
		b.WriteString("RCPT TO:<alice@example.com>\r\n")
	}
	b.WriteString("DATA\r\n")
	r.send(b.String())
	r.until("354 ")
	r.send("STARTTLS\r\nSubject: x\r\n\r\nbody\r\nSTARTTLS\r\n.\r\n")
	for i := range rcpts {
		if l, _ := r.line(); !strings.HasPrefix(l, "250 ") {
			t.Fatalf("reply %d to the message: %q", i+1, l)
		}
	}
	r.send("NOOP\r\nQUIT\r\n")
	r.until("250 ")
	r.until("221 ")
	waitClosedAll(t, rec, ProtoLMTP, r)

	if n := rec.deliveries(ProtoLMTP); n != 1 { // one recipient, named 31 times
		t.Errorf("%d deliveries recorded, want 1", n)
	}
	known := map[string]bool{"LHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "NOOP": true, "QUIT": true}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for k, n := range rec.commands {
		if f := strings.Fields(k); len(f) != 3 || f[0] != ProtoLMTP || !known[f[1]] {
			t.Errorf("recorded %q %d times: a message line taken for a command", k, n)
		}
	}
	for _, k := range []string{"LHLO ok", "MAIL ok", "NOOP ok", "QUIT ok"} {
		if n := rec.commands[ProtoLMTP+" "+k]; n != 1 {
			t.Errorf("%s recorded %d times, want 1", k, n)
		}
	}
}

// TestLMTPStartTLSInDataAfterPerRecipientReplies pipelines a second
// transaction after the first message's "." (RFC 2920 lets message content
// start a group), whose DATA has two recipients: LMTP's extra
// per-recipient reply completes no command of the meter's, which then
// matches the replies after to the wrong commands and takes the second 354
// for a reply to nothing. The second message's first line "STARTTLS" must
// still reach go-smtp as message data: the meter does not answer a line
// after a 354.
func TestLMTPStartTLSInDataAfterPerRecipientReplies(t *testing.T) {
	rec := newCountingRecorder()
	_, addrs, _ := tlsServer(t, Options{Recorder: rec})
	r := newRaw(t, addrs.LMTP)
	r.until("220 ")
	r.ehlo("LHLO")
	r.send("MAIL FROM:<bob@example.com>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<alice+x@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		if l, _ := r.line(); !strings.HasPrefix(l, want) {
			t.Fatalf("first transaction: %q, want %q", l, want)
		}
	}
	r.send("Subject: one\r\n\r\none\r\n.\r\nMAIL FROM:<bob@example.com>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "250 ", "354 "} {
		if l, _ := r.line(); !strings.HasPrefix(l, want) {
			t.Fatalf("second transaction: %q, want %q", l, want)
		}
	}
	r.send("STARTTLS\r\nSubject: two\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
	if l, _ := r.line(); !strings.HasPrefix(l, "250 ") {
		t.Fatalf("reply to the second message: %q", l)
	}
	r.until("221 ")
	waitClosedAll(t, rec, ProtoLMTP, r)
	if n := rec.deliveries(ProtoLMTP); n != 3 {
		t.Errorf("%d deliveries recorded, want 3", n)
	}
	// The first message's second per-recipient reply answers no command:
	// every command is recorded with its own reply.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for cmd, want := range map[string]int{"MAIL ok": 2, "RCPT ok": 3, "DATA ok": 2, "QUIT ok": 1, "LHLO ok": 1} {
		if got := rec.commands[ProtoLMTP+" "+cmd]; got != want {
			t.Errorf("%s recorded %d times, want %d (all: %v)", cmd, got, want, rec.commands)
		}
	}
}

// TestLMTPMeterFollowsGoSMTP drives the embedded LMTP server where a count
// of recipients would fall out of step with go-smtp's own list (review of
// 8114c77): a second MAIL keeps the first's recipients, a refused BDAT
// LAST is one reply, and more recipients than the meter keeps open
// (maxPending). Every command after the message must be recorded with its
// own reply: HELP bad (502), NOOP and QUIT ok.
func TestLMTPMeterFollowsGoSMTP(t *testing.T) {
	tests := []struct {
		name string
		run  func(r *rawSession)
	}{
		{"mail twice", func(r *rawSession) {
			r.send("MAIL FROM:<bob@example.com>\r\nRCPT TO:<alice@example.com>\r\nMAIL FROM:<bob@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
			r.until("354 ")
			r.send("Subject: x\r\n\r\nx\r\n.\r\nHELP\r\nNOOP\r\nQUIT\r\n")
		}},
		{"refused bdat last", func(r *rawSession) {
			r.send("MAIL FROM:<bob@example.com>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nBDAT x LAST\r\n")
			r.until("501 ")
			r.send("HELP\r\nNOOP\r\nQUIT\r\n")
		}},
		{"more recipients than kept open", func(r *rawSession) {
			var b strings.Builder
			b.WriteString("MAIL FROM:<bob@example.com>\r\n")
			for range 2 * maxPending {
				b.WriteString("RCPT TO:<alice@example.com>\r\n")
			}
			b.WriteString("DATA\r\n")
			r.send(b.String())
			r.until("354 ")
			r.send("Subject: x\r\n\r\nx\r\n.\r\n")
			for range 2 * maxPending {
				r.until("250 ")
			}
			r.send("HELP\r\nNOOP\r\nQUIT\r\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newCountingRecorder()
			_, addrs := testServer(t, Options{Recorder: rec})
			r := newRaw(t, addrs.LMTP)
			r.until("220 ")
			r.ehlo("LHLO")
			tc.run(r)
			r.until("502 ") // HELP
			r.until("250 ") // NOOP
			r.until("221 ") // QUIT
			waitClosedAll(t, rec, ProtoLMTP, r)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for cmd, want := range map[string]int{"HELP bad": 1, "NOOP ok": 1, "QUIT ok": 1} {
				if got := rec.commands[ProtoLMTP+" "+cmd]; got != want {
					t.Errorf("%s recorded %d times, want %d (all: %v)", cmd, got, want, rec.commands)
				}
			}
		})
	}
}
