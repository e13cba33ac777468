package leanimap

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// TestIDWire checks the ID command as written: its parameters are quoted
// strings, never atoms (RFC 2971; Cyrus answers BAD to atoms).
func TestIDWire(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	_ = server.SetDeadline(time.Now().Add(10 * time.Second))
	got := make(chan string, 1)
	go func() {
		defer close(got)
		if _, err := server.Write([]byte("* OK ready\r\n")); err != nil {
			return
		}
		line, err := bufio.NewReader(server).ReadString('\n')
		if err != nil {
			return
		}
		got <- line
		_, _ = server.Write([]byte("L1 OK done\r\n"))
	}()
	c, err := New(client, Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ID("mailsim", "1"); err != nil {
		t.Fatal(err)
	}
	if line, want := <-got, "L1 ID (\"name\" \"mailsim\" \"version\" \"1\")\r\n"; line != want {
		t.Fatalf("ID written as %q, want %q", line, want)
	}
}
