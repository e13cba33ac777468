package dovecottest

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// processCPU returns this process's user+system CPU seconds.
func processCPU(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkIMAPSelectFetchStore drives one IMAP session through rounds of
// SELECT INBOX, FETCH 1:* (FLAGS) over 20 messages and STORE 1
// +FLAGS.SILENT (\Seen) (3 commands per op) against a private Dovecot and
// reports the CPU both sides used per 1,000 commands: Dovecot's processes
// (dovecot.sh cpu) as server-cpu, and this process (getrusage: the go-imap
// client, plus the test's runtime) as process-cpu. Dovecot's figure has a 10 ms resolution: run with
// -benchtime=3000x or more.
//
//	go test -run '^$' -bench IMAPSelectFetchStore -benchtime 3000x ./internal/dovecottest/
func BenchmarkIMAPSelectFetchStore(b *testing.B) {
	inst := Start(b, 1)
	benchSelectFetchStore(b, inst.IMAP, inst.LMTP, inst.Username(1), inst.Password, inst.CPU)
}

// benchSelectFetchStore delivers 20 messages to user over LMTP at lmtpAddr
// and runs b.N rounds of SELECT, FETCH and STORE over IMAP at imapAddr;
// serverCPU, when not nil, reads the server's CPU seconds.
func benchSelectFetchStore(b *testing.B, imapAddr, lmtpAddr, user, pass string, serverCPU func() (float64, error)) {
	lc := smtp.NewClientLMTP(Dial(b, lmtpAddr))
	if err := lc.Hello("localhost"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody\r\n", i)
		if err := lc.SendMail("a@example.org", []string{user + "@example.com"}, strings.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
	lc.Quit()
	lc.Close()

	conn := Dial(b, imapAddr)
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		b.Fatal(err)
	}
	all := imap.SeqSetNum()
	all.AddRange(1, 0)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}

	var d0, d1 float64
	var err error
	if serverCPU != nil {
		if d0, err = serverCPU(); err != nil {
			b.Fatal(err)
		}
	}
	c0 := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := conn.SetDeadline(time.Now().Add(IOTimeout)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Fetch(all, &imap.FetchOptions{Flags: true}).Collect(); err != nil {
			b.Fatal(err)
		}
		if err := c.Store(imap.SeqSetNum(1), store, nil).Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c1 := processCPU(b)
	kcmds := float64(3*b.N) / 1000
	if serverCPU != nil {
		if d1, err = serverCPU(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric((d1-d0)/kcmds, "server-cpu-s/1k-cmds")
	}
	b.ReportMetric((c1-c0)/kcmds, "process-cpu-s/1k-cmds")
	c.Logout().Wait()
}
