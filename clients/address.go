package clients

import (
	"net/mail"
	"strings"

	"github.com/mailsim/mailsim/internal/mailgen"
)

// domainOf returns the domain of address (after its last @), or mailgen's
// default when it has none: the domain of the Message-IDs a device makes.
func domainOf(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i+1 < len(address) {
		return address[i+1:]
	}
	return mailgen.DefaultDomain
}

// bareAddress returns the addr-spec of an address header value ("Ann
// <ann@example.com>" → "ann@example.com"), or the value itself when it
// does not parse.
func bareAddress(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return a.Address
	}
	return s
}
