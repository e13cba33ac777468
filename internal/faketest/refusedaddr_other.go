//go:build !unix

package faketest

import "testing"

// RefusedAddr returns a loopback address where nothing listens. Where no
// socket can hold a port without listening (not unix), it is FreeAddr's:
// free when picked, below the ephemeral range, so that only a test
// listening on a port it picked so could take it meanwhile.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	return FreeAddr(t)
}
