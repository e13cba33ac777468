package faketest

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeAddr returns a loopback address ("127.0.0.1:PORT") free when picked,
// for a program the test starts that must listen on an address known
// beforehand (a run's --metrics-addr, Prometheus's scrape target). Its
// port lies below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range; 32768 where it cannot be read
// or starts at 11000 or below, where the guarantee is then lost),
// so that no listen on port 0 and no outgoing connection of a test running
// meanwhile is given it between the pick and the program's listen, as a
// port from a closed 127.0.0.1:0 listener could be (CI read "bind: address
// already in use" so). Ports are tried from a random start, at most 500.
func FreeAddr(t testing.TB) string {
	t.Helper()
	top := ephemeralStart()
	start := lowest + rand.IntN(top-lowest)
	for i := range 500 {
		port := lowest + (start-lowest+i*7919)%(top-lowest)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	t.Fatalf("no free loopback port below %d in 500 tries", top)
	return ""
}

// lowest is the lowest port FreeAddr picks.
const lowest = 10000

// ephemeralStart returns the first port of the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), 32768 where it cannot be read
// or leaves under 1,000 ports above lowest.
func ephemeralStart() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowest+1000 {
				return n
			}
		}
	}
	return 32768
}
