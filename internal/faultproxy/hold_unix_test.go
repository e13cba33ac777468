//go:build unix

package faultproxy

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/mailsim/mailsim/internal/faketest"
)

// bindErr binds a socket without SO_REUSEADDR to addr and closes it: nil
// when nothing holds the port.
func bindErr(addr string) error {
	_, h, err := faketest.HoldPort(addr, false)
	if err == nil {
		_ = h.Close()
	}
	return err
}

// TestRefuseHoldsThePort: while refusing, the proxy's port stays bound,
// so that no other socket is given it meanwhile (a connection's own end
// could be, and SetRefuse(false) then failed to listen again); listening
// again and Close release it.
func TestRefuseHoldsThePort(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	addr := p.Addr()
	if err := p.SetRefuse(true); err != nil {
		t.Fatal(err)
	}
	if p.portHold == nil {
		t.Error("refusing holds no port")
	}
	if err := bindErr(addr); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("bind while refusing: %v, want EADDRINUSE (the port held)", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("dial succeeded while refusing")
	}
	if err := p.SetRefuse(false); err != nil {
		t.Fatalf("listen again: %v", err)
	}
	if err := roundTrip(dial(t, addr), "x"); err != nil {
		t.Errorf("after SetRefuse(false): %v", err)
	}
	if err := p.SetRefuse(true); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.portHold != nil { // a bind would meet the connections' TIME_WAIT
		t.Error("the port is still held after Close")
	}
}
