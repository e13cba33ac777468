package faketest

import (
	"errors"
	"testing"
)

// RefusedAddr returns a loopback address ("127.0.0.1:PORT") where a
// connection is refused for the rest of the test: the port is held by a
// socket bound to it that never listens (HoldPort, without SO_REUSEADDR;
// closed in the test's cleanup), so a dial gets a reset, and no listener
// nor outgoing connection of a test running meanwhile can be given the
// port, as one from a closed 127.0.0.1:0 listener could be. Where no
// socket can hold a port (not unix), it is FreeAddr's: free when picked,
// below the ephemeral range, so that only a test listening on a port it
// picked so could take it meanwhile.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	addr, hold, err := HoldPort("127.0.0.1:0", false)
	if errors.Is(err, errors.ErrUnsupported) {
		return FreeAddr(t)
	}
	if err != nil {
		t.Fatalf("refused address: %v", err)
	}
	t.Cleanup(func() { _ = hold.Close() })
	return addr
}
