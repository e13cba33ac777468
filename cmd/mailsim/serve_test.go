package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

func TestServeCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	t.Setenv("MAILSIM_PASSWORD", "fromenv")
	go func() {
		done <- serveMail(ctx, []string{"--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
			"--lmtp", "127.0.0.1:0", "--users", "3", "--metrics-addr", "127.0.0.1:0"}, pw, &stderr)
		pw.Close()
	}()

	addrs := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ready") {
			break
		}
		name, addr, _ := strings.Cut(line, " ")
		addrs[name] = addr
	}
	go io.Copy(io.Discard, pr)
	for _, n := range []string{"imap", "pop3", "smtp", "lmtp", "metrics"} {
		if addrs[n] == "" {
			t.Fatalf("no %s address printed; got %v; stderr %s", n, addrs, stderr.String())
		}
	}

	conn, err := net.DialTimeout("tcp", addrs["lmtp"], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	lc := smtp.NewClientLMTP(conn)
	msg := "Message-ID: <serve@test>\r\nSubject: hi\r\n\r\nbody\r\n"
	if err := lc.SendMail("x@example.net", []string{"user3@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	lc.Close()

	ic, err := net.DialTimeout("tcp", addrs["imap"], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ic.SetDeadline(time.Now().Add(10 * time.Second))
	c := imapclient.New(ic, nil)
	if err := c.Login("user3", "fromenv").Wait(); err != nil {
		t.Fatalf("login with $MAILSIM_PASSWORD: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("select: %v, %v", sel, err)
	}
	c.Logout().Wait()
	c.Close()

	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(addrs["metrics"])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`mailsim_server_commands_total{command="LOGIN",outcome="ok",protocol="imap"} 1`,
		`mailsim_server_stored_messages{folder="inbox"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit code %d, stderr %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}

func TestServeBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--users", "-1"}, {"--nope"}, {"extra"}, {"--max-commands-per-second", "-1"},
		{"--max-commands-per-second", "NaN"}, {"--max-commands-per-second", "Inf"}, {"--max-commands-per-second", "x"}} {
		var out, errb strings.Builder
		if code := serveMail(context.Background(), args, &out, &errb); code != exitScenario {
			t.Errorf("%v: exit %d, want %d", args, code, exitScenario)
		}
	}
}

func TestServeTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- serveMail(ctx, []string{"--tls", "--imap", "", "--pop3", "", "--smtp", "", "--lmtp", "",
			"--imaps", "127.0.0.1:0", "--pop3s", "127.0.0.1:0", "--users", "1", "--password", "pw"}, pw, io.Discard)
		pw.Close()
	}()
	addrs := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "ready") {
		name, addr, _ := strings.Cut(sc.Text(), " ")
		addrs[name] = addr
	}
	go io.Copy(io.Discard, pr)
	if addrs["imaps"] == "" || addrs["pop3s"] == "" || addrs["imap"] != "" {
		t.Fatalf("printed %v, want only imaps and pop3s", addrs)
	}
	c, err := imapclient.DialTLS(addrs["imaps"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("user1", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
}

// TestServeRateLimit starts "mailsim serve --max-commands-per-second" and
// checks that it says so, serves commands, and reports at shutdown how many
// commands went through the limit.
func TestServeRateLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- serveMail(ctx, []string{"--imap", "127.0.0.1:0", "--pop3", "", "--smtp", "", "--lmtp", "",
			"--users", "1", "--max-commands-per-second", "500"}, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	addrs := map[string]string{}
	var ready string
	for sc.Scan() {
		if ready = sc.Text(); strings.HasPrefix(ready, "ready") {
			break
		}
		name, addr, _ := strings.Cut(ready, " ")
		addrs[name] = addr
	}
	if !strings.HasSuffix(ready, ", at most 500 commands/s") {
		t.Fatalf("ready line %q does not state the limit; stderr %s", ready, stderr.String())
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()

	conn, err := net.DialTimeout("tcp", addrs["imap"], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := imapclient.New(conn, nil)
	if err := c.Login("user1", "pass").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit code %d, stderr %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	// LOGIN, NOOP and LOGOUT, within the burst of 500.
	want := "rate limit: 3 commands served, 0 of them waited 0s in all, 0 still waiting at shutdown\n"
	if got := <-rest; got != want {
		t.Errorf("after shutdown printed %q, want %q", got, want)
	}
}
