package leanimap

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
)

// serverProcessEnv marks the test binary re-executed as a server process.
const serverProcessEnv = "MAILSIM_LEANIMAP_SERVER_PROCESS"

// TestServerProcess is not a test: run by serverProcess in a child
// process, it serves the embedded server on loopback (user alice, password
// "secret"), prints "imap=ADDR lmtp=ADDR" and serves until stdin closes.
func TestServerProcess(t *testing.T) {
	if os.Getenv(serverProcessEnv) != "1" {
		t.Skip("helper process of the allocation test and the benchmarks")
	}
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fmt.Printf("imap=%s lmtp=%s\n", addrs.IMAP, addrs.LMTP)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// serverProcess runs the embedded server in a child process, so that this
// process's allocations and CPU are the client's alone.
func serverProcess(tb testing.TB) server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServerProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), serverProcessEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cancel()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("server process: %v", err)
	}
	srv := server{name: "embedded-process", user: "alice", pass: "secret", rcpt: "alice@example.com"}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "imap":
			srv.imap = v
		case "lmtp":
			srv.lmtp = v
		}
	}
	if srv.imap == "" || srv.lmtp == "" {
		tb.Fatalf("server process said %q", line)
	}
	return srv
}
