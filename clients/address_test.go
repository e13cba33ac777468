package clients

import (
	"testing"

	"github.com/mailsim/mailsim/internal/mailgen"
)

func TestDomainOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ann@example.org", "example.org"},
		{"a@b@c.test", "c.test"},
		{"ann", mailgen.DefaultDomain},
		{"ann@", mailgen.DefaultDomain},
		{"", mailgen.DefaultDomain},
	}
	for _, tt := range tests {
		if got := domainOf(tt.in); got != tt.want {
			t.Errorf("domainOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBareAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ann <ann@example.org>", "ann@example.org"},
		{`"Doe, Ann" <ann@example.org>`, "ann@example.org"},
		{"ann@example.org", "ann@example.org"},
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := bareAddress(tt.in); got != tt.want {
			t.Errorf("bareAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
