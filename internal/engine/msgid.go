package engine

import "bytes"

// messageID extracts the Message-ID header value (angle brackets kept) from
// a raw message or header block, following folded header lines.
func messageID(raw []byte) string {
	hdr := raw
	if end := bytes.Index(raw, []byte("\r\n\r\n")); end >= 0 {
		hdr = raw[:end]
	}
	lines := bytes.Split(hdr, []byte("\n"))
	for i, line := range lines {
		line = bytes.TrimRight(line, "\r")
		if len(line) < 11 || !bytes.EqualFold(line[:11], []byte("message-id:")) {
			continue
		}
		v := bytes.TrimSpace(line[11:])
		// A folded value continues on lines starting with white space.
		for j := i + 1; len(v) == 0 && j < len(lines); j++ {
			cont := bytes.TrimRight(lines[j], "\r")
			if len(cont) == 0 || (cont[0] != ' ' && cont[0] != '\t') {
				break
			}
			v = bytes.TrimSpace(cont)
		}
		return string(v)
	}
	return ""
}
