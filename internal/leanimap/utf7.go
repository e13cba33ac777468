package leanimap

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mailbox names travel in modified UTF-7 (RFC 3501 section 5.1.3) unless
// UTF8=ACCEPT was enabled: printable ASCII stands for itself ('&' as "&-"),
// other characters as UTF-16 in modified base64 between '&' and '-'.

// mutf7 is base64 with ',' for '/' and no padding.
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// errMUTF7 is the error of a name that is not valid modified UTF-7.
var errMUTF7 = errors.New("invalid modified UTF-7 mailbox name")

// encodeMailbox returns name in modified UTF-7.
func encodeMailbox(name string) string {
	plain := true
	for i := 0; i < len(name) && plain; i++ {
		plain = name[i] >= 0x20 && name[i] <= 0x7e && name[i] != '&'
	}
	if plain {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		c := name[i]
		if c >= 0x20 && c <= 0x7e {
			b.WriteByte(c)
			if c == '&' {
				b.WriteByte('-')
			}
			i++
			continue
		}
		j := i
		var units []uint16
		for j < len(name) && (name[j] < 0x20 || name[j] > 0x7e) {
			r, n := utf8.DecodeRuneInString(name[j:])
			units = utf16.AppendRune(units, r)
			j += n
		}
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

// decodeMailbox returns the UTF-8 name of name in modified UTF-7.
func decodeMailbox(name string) (string, error) {
	if !strings.Contains(name, "&") {
		return name, nil
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '&' {
			b.WriteByte(name[i])
			continue
		}
		end := strings.IndexByte(name[i:], '-')
		if end < 0 {
			return "", errMUTF7
		}
		enc := name[i+1 : i+end]
		i += end
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mutf7.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errMUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError {
				return "", errMUTF7
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// mailbox appends a mailbox name argument, in modified UTF-7 unless
// UTF8=ACCEPT is enabled.
func (c *Client) mailbox(name string) error {
	if !c.utf8 {
		name = encodeMailbox(name)
	}
	return c.str(name)
}

// mailboxName returns the UTF-8 name of a mailbox name the server sent
// (as sent when it is not valid modified UTF-7; INBOX in any case as
// INBOX).
func (c *Client) mailboxName(b []byte) string {
	if len(b) == 5 && bytes.EqualFold(b, []byte("INBOX")) {
		return "INBOX" // case-insensitive (RFC 3501 5.1), as go-imap reads it
	}
	if c.utf8 {
		return string(b)
	}
	name, err := decodeMailbox(string(b))
	if err != nil {
		return string(b)
	}
	return name
}

// mailboxNameAs is mailboxName, returning known (a string the caller has,
// no allocation) when b is known as sent: in UTF-8, or without a '&' (no
// modified UTF-7 to decode).
func (c *Client) mailboxNameAs(b []byte, known string) string {
	if known != "" && string(b) == known && (c.utf8 || bytes.IndexByte(b, '&') < 0) {
		return known
	}
	return c.mailboxName(b)
}
