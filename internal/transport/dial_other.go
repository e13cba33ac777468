//go:build !linux

package transport

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// dialRaw is dial_linux.go's raw dial; on other platforms there is none
// and Dial uses net.Dialer.
func dialRaw(context.Context, netip.AddrPort, time.Duration, time.Duration) (net.Conn, bool, error) {
	return nil, false, nil
}
