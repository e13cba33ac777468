package transport

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestNameServer: the server is named once, whatever wraps an error that
// names it already.
func TestNameServer(t *testing.T) {
	named := atServer("smtp", "127.0.0.1:25", "greeting: %w", io.EOF)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, "<nil>"},
		{"plain", io.EOF, "smtp 127.0.0.1:25: EOF"},
		{"named", named, "smtp 127.0.0.1:25: greeting: EOF"},
		{"named, wrapped", fmt.Errorf("%w (run ended: %w)", named, errors.New("context canceled")), "smtp 127.0.0.1:25: greeting: EOF (run ended: context canceled)"},
		{"named, explained", explained{named, io.ErrUnexpectedEOF}, "smtp 127.0.0.1:25: greeting: EOF (unexpected EOF)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NameServer("smtp", "127.0.0.1:25", tt.err)
			if fmt.Sprint(got) != tt.want {
				t.Errorf("NameServer: %v, want %s", got, tt.want)
			}
			if tt.err != nil && !errors.Is(got, io.EOF) {
				t.Errorf("NameServer: %v does not wrap EOF", got)
			}
		})
	}
}
