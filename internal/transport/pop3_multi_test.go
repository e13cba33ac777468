package transport_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// TestPOP3Multi checks the reading of multi-line replies: dot-stuffing
// undone, CRLF and LF line ends, lines longer than any buffer, the lone
// dot ending the reply (and nothing after it read), a connection that ends
// before it, and a callback error that still reads the reply to its end so
// the next command gets its own reply.
func TestPOP3Multi(t *testing.T) {
	long := strings.Repeat("x", 10000)
	tests := []struct {
		name    string
		body    string // the reply to RETR after "+OK\r\n"
		want    []string
		wantErr error // nil: the reply is read and NOOP works after it
		failAt  int   // the callback fails at this line (0: never)
	}{
		{"plain", "a\r\nb\r\n.\r\n", []string{"a", "b"}, nil, 0},
		{"empty", ".\r\n", nil, nil, 0},
		{"dot-stuffed", "..\r\n...x\r\n.. \r\n.y\r\n.\r\n", []string{".", "..x", ". ", "y"}, nil, 0},
		{"LF line ends", "a\nb\n.\n", []string{"a", "b"}, nil, 0},
		{"empty lines", "\r\n\r\nz\r\n.\r\n", []string{"", "", "z"}, nil, 0},
		{"long lines", long + "\r\n." + long + "\r\n.\r\n", []string{long, long}, nil, 0},
		{"callback error", "a\r\nb\r\nc\r\n.\r\n", []string{"a", "b"}, errStop, 2},
		{"connection ends", "a\r\nb", []string{"a"}, io.ErrUnexpectedEOF, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) {
				_, _ = c.Write([]byte("+OK fake\r\n"))
				br := bufio.NewReader(c)
				for range 3 {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch {
					case strings.HasPrefix(line, "RETR"):
						_, _ = c.Write([]byte("+OK\r\n" + tc.body))
						if tc.wantErr == io.ErrUnexpectedEOF {
							return
						}
					case strings.HasPrefix(line, "NOOP"):
						_, _ = c.Write([]byte("+OK noop\r\n"))
					default:
						_, _ = c.Write([]byte("-ERR what\r\n"))
					}
				}
			})
			p := openPOP3(t, addr)
			var got []string
			err := p.Multi("RETR", "RETR 1", func(l []byte) error {
				got = append(got, string(l))
				if len(got) == tc.failAt {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Multi: %v, want %v", err, tc.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("lines %q, want %q", got, tc.want)
			}
			if tc.wantErr == io.ErrUnexpectedEOF {
				return
			}
			if r, err := p.Cmd("NOOP", "NOOP"); err != nil || r != "noop" {
				t.Errorf("NOOP after the reply: %q, %v (the reply was not read to its end)", r, err)
			}
		})
	}
}

var errStop = errors.New("stop")
