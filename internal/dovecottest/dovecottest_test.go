package dovecottest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/knadh/go-pop3"
)

// deadlineDialer is a pop3.Dialer whose connections carry a deadline.
type deadlineDialer struct{}

func (deadlineDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, IOTimeout)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(IOTimeout)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func TestStartInstance(t *testing.T) {
	t.Parallel()
	inst := Start(t, 3)
	for name, addr := range map[string]string{"imap": inst.IMAP, "pop3": inst.POP3, "lmtp": inst.LMTP} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("%s address %q: want 127.0.0.1:port (%v)", name, addr, err)
		}
	}
	if inst.Users != 3 || inst.Password == "" || inst.PID <= 0 {
		t.Errorf("instance = %+v", inst)
	}
	cpu, err := inst.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if cpu < 0 {
		t.Errorf("CPU() = %v", cpu)
	}
	// The instance's env file describes the same instance.
	again, err := FromEnvFile(inst.Dir + "/env")
	if err != nil {
		t.Fatal(err)
	}
	if again.IMAP != inst.IMAP || again.MetricsURL != inst.MetricsURL {
		t.Errorf("FromEnvFile = %+v, want %+v", again, inst)
	}
}

func TestIMAPLoginAndFolders(t *testing.T) {
	t.Parallel()
	inst := Start(t, 2)
	c := imapclient.New(Dial(t, inst.IMAP), nil)
	defer c.Close()
	if err := c.Login(inst.Username(2), inst.Password).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	boxes, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	got := make(map[string]string)
	for _, b := range boxes {
		var attrs []string
		for _, a := range b.Attrs {
			attrs = append(attrs, string(a))
		}
		got[b.Mailbox] = strings.Join(attrs, " ")
	}
	for name, use := range map[string]imap.MailboxAttr{"Drafts": imap.MailboxAttrDrafts,
		"Sent": imap.MailboxAttrSent, "Trash": imap.MailboxAttrTrash,
		"Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive} {
		if !strings.Contains(got[name], string(use)) {
			t.Errorf("mailbox %s: attrs %q, want %s (all: %v)", name, got[name], use, got)
		}
	}
	if _, ok := got["INBOX"]; !ok {
		t.Errorf("no INBOX in %v", got)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}

	bad := imapclient.New(Dial(t, inst.IMAP), nil)
	defer bad.Close()
	if err := bad.Login(inst.Username(1), inst.Password+"-wrong").Wait(); err == nil {
		t.Error("LOGIN with a wrong password succeeded")
	}
}

func TestLMTPDeliverySeenOverPOP3(t *testing.T) {
	t.Parallel()
	inst := Start(t, 2)
	lc := smtp.NewClientLMTP(Dial(t, inst.LMTP))
	defer lc.Close()
	if err := lc.Hello("localhost"); err != nil {
		t.Fatalf("LHLO: %v", err)
	}
	const subject = "dovecottest delivery"
	msg := "From: a@example.org\r\nTo: user1@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <dt-1@example.org>\r\n\r\nHello.\r\n"
	if err := lc.SendMail("a@example.org", []string{"user1@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("LMTP delivery: %v", err)
	}
	// An unknown user is refused at RCPT.
	if err := lc.SendMail("a@example.org", []string{"nobody@example.com"}, strings.NewReader(msg)); err == nil {
		t.Error("LMTP delivery to an unknown user succeeded")
	}
	if err := lc.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}

	port, _ := strconv.Atoi(inst.POP3[strings.LastIndex(inst.POP3, ":")+1:])
	pc := pop3.New(pop3.Opt{Host: "127.0.0.1", Port: port, DialTimeout: IOTimeout, Dialer: deadlineDialer{}})
	tests := []struct {
		user      string
		wantCount int
	}{
		{inst.Username(1), 1},
		{inst.Username(2), 0},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			conn, err := pc.NewConn()
			if err != nil {
				t.Fatalf("pop3 connect: %v", err)
			}
			defer conn.Quit()
			if err := conn.Auth(tc.user, inst.Password); err != nil {
				t.Fatalf("pop3 auth: %v", err)
			}
			count, _, err := conn.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if count != tc.wantCount {
				t.Fatalf("STAT: %d messages, want %d", count, tc.wantCount)
			}
			if count == 0 {
				return
			}
			ids, err := conn.Uidl(0)
			if err != nil {
				t.Fatal(err)
			}
			// pop3_uidl_format = %08Xu%08Xv: 16 hex digits
			if len(ids) != 1 || len(ids[0].UID) != 16 {
				t.Errorf("UIDL = %+v, want one 16-digit UID", ids)
			}
			e, err := conn.Retr(1)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Header.Get("Subject"); got != subject {
				t.Errorf("Subject = %q, want %q", got, subject)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	inst := Start(t, 1)
	c := imapclient.New(Dial(t, inst.IMAP), nil)
	defer c.Close()
	if err := c.Login(inst.Username(1), inst.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	// The stats process receives events asynchronously: poll briefly.
	want := `dovecot_imap_command_total{cmd_name="NOOP",tagged_reply_state="OK"} 3`
	var body string
	for deadline := time.Now().Add(IOTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		body = scrape(t, inst.MetricsURL)
		if strings.Contains(body, want) {
			break
		}
	}
	for _, w := range []string{want, `dovecot_auth_success_total{service="imap"} 1`, "dovecot_imap_command_latency_bucket"} {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %q:\n%s", w, body)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), IOTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// No keep-alive: an idle HTTP connection keeps Dovecot's stats
	// process, and so the instance's shutdown, waiting.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(bufio.NewReader(resp.Body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseEnvRejectsIncompleteOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"no users", "PID=1\nIMAP_ADDR=a\n"},
		{"no imap", "NUSERS=1\nPID=2\nPOP3_ADDR=b\nLMTP_ADDR=c\nMETRICS_URL=d\nDIR=e\nPASSWORD=p\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if inst, err := parseEnv([]byte(tc.in)); err == nil {
				t.Errorf("parseEnv(%q) = %+v, want error", tc.in, inst)
			}
		})
	}
	ok := "DIR=/d\nPID=7\nNUSERS=2\nPASSWORD=pass\nIMAP_ADDR=127.0.0.1:1\nPOP3_ADDR=127.0.0.1:2\n" +
		"LMTP_ADDR=127.0.0.1:3\nMETRICS_URL=http://127.0.0.1:4/metrics\n"
	inst, err := parseEnv([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s %s %s %s %d %d", inst.IMAP, inst.POP3, inst.LMTP, inst.Dir, inst.PID, inst.Users); got != "127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 /d 7 2" {
		t.Errorf("parseEnv = %s", got)
	}
}
