package scenarios

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationUnits are the units of a duration, longest first so that "ms"
// wins over "m".
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"ms", time.Millisecond},
	{"us", time.Microsecond},
	{"ns", time.Nanosecond},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// ParseDuration parses a duration such as "90s", "15m", "14d", "1h30m" or
// "500ms". Units are ns, us, ms, s, m, h and d (24h); numbers may have a
// fraction ("1.5h"). "0" needs no unit. Negative durations are an error.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", orig)
	}
	if s == "0" {
		return 0, nil
	}
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad duration %q: want a number and a unit, like 90s, 15m, 1h30m, 14d or 500ms", orig)
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q: bad number %q", orig, s[:i])
		}
		s = s[i:]
		var unit time.Duration
		for _, u := range durationUnits {
			if strings.HasPrefix(s, u.name) {
				unit = u.d
				s = s[len(u.name):]
				break
			}
		}
		if unit == 0 {
			return 0, fmt.Errorf("bad duration %q: missing or unknown unit (ns, us, ms, s, m, h, d)", orig)
		}
		total += n * float64(unit)
		if total > math.MaxInt64/2 {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
	}
	return time.Duration(total), nil
}

// sizeUnits are the units of a byte size, longest first.
var sizeUnits = []struct {
	name string
	n    float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"b", 1},
}

// ParseSize parses a byte size: "2KiB", "5MiB", "200KB", "1.5GB" or a plain
// byte count "4096". KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000; units
// are case-insensitive.
func ParseSize(s string) (Size, error) {
	return parseUnit(s, sizeUnits, "size", "2KiB, 5MiB, 200KB or 4096", 1<<50)
}

// bandwidthUnits are the units of a bandwidth in bits per second.
var bandwidthUnits = []struct {
	name string
	n    float64
}{
	{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9},
	{"kbps", 1e3}, {"mbps", 1e6}, {"gbps", 1e9},
	{"bit", 1}, {"bps", 1},
}

// ParseBandwidth parses a bandwidth in bits per second: "5Mbit", "512kbit",
// "1Gbit" (also "5Mbps"), or a plain number of bits per second. Units are
// decimal (1 kbit = 1000 bit) and case-insensitive.
func ParseBandwidth(s string) (int64, error) {
	v, err := parseUnit(s, bandwidthUnits, "bandwidth", "5Mbit, 512kbit or 1Gbit", 1e15)
	return int64(v), err
}

// parseUnit parses a non-negative number followed by an optional unit.
func parseUnit(s string, units []struct {
	name string
	n    float64
}, what, examples string, max float64) (Size, error) {
	orig := s
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '-' || s[i] == '+') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("bad %s %q: want e.g. %s", what, orig, examples)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative %s %q", what, orig)
	}
	mult := 0.0
	if unit == "" {
		mult = 1
	}
	for _, u := range units {
		if unit == u.name {
			mult = u.n
		}
	}
	if mult == 0 {
		return 0, fmt.Errorf("bad %s %q: unknown unit %q (want e.g. %s)", what, orig, s[i:], examples)
	}
	v := n * mult
	if v > max || math.IsNaN(v) {
		return 0, fmt.Errorf("%s %q is too large", what, orig)
	}
	return Size(math.Round(v)), nil
}

// ParsePercent parses a percentage such as "20%" or "0.5%" into a fraction
// (0.2, 0.005). The % sign is required: plain numbers are rejected, so that
// "50" (imaptest style) and "0.5" cannot be confused.
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if !strings.HasSuffix(t, "%") {
		return 0, fmt.Errorf("bad percentage %q: write it with a %% sign, like 20%%", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("bad percentage %q: want a number followed by %%, like 20%%", s)
	}
	return n / 100, nil
}

// maxExpansion caps the length of a scalar after ${VAR} expansion.
const maxExpansion = 1 << 16

// expandEnv replaces ${VAR} and ${VAR:-default} in s using env. "$${"
// stands for a literal "${". A "$" not followed by "{" is kept as is. An
// unset variable without a default is an error naming it.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ in %q", s)
			}
			expr := s[i+2 : i+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("bad variable name %q in ${%s} (want letters, digits and _)", name, expr)
			}
			v, ok := env(name)
			switch {
			case ok && (v != "" || !hasDef):
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			default:
				return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
			}
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
		if b.Len() > maxExpansion {
			return "", fmt.Errorf("value longer than %d bytes after ${VAR} expansion", maxExpansion)
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// parseBool accepts true/false, yes/no and on/off.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("bad boolean %q: want true or false", s)
}

// checkUsernamePattern checks a username pattern: text with {n} or {n:0W}
// (zero-padded to width W, 1..20) placeholders. It reports whether the
// pattern has a placeholder.
func checkUsernamePattern(p string) (hasN bool, err error) {
	_, hasN, err = formatUsername(p, 1)
	return hasN, err
}

// FormatUsername expands a username pattern for user number n: "user{n}" →
// "user7", "u{n:04}" → "u0007".
func FormatUsername(pattern string, n int) string {
	s, _, err := formatUsername(pattern, n)
	if err != nil {
		return pattern
	}
	return s
}

func formatUsername(p string, n int) (string, bool, error) {
	var b strings.Builder
	hasN := false
	for i := 0; i < len(p); {
		c := p[i]
		if c == '}' {
			return "", false, fmt.Errorf("bad username pattern %q: unmatched }", p)
		}
		if c != '{' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(p[i:], '}')
		if end < 0 {
			return "", false, fmt.Errorf("bad username pattern %q: unclosed {", p)
		}
		ph := p[i+1 : i+end]
		switch {
		case ph == "n":
			b.WriteString(strconv.Itoa(n))
		case strings.HasPrefix(ph, "n:0"):
			w, err := strconv.Atoi(ph[3:])
			if err != nil || w < 1 || w > 20 {
				return "", false, fmt.Errorf("bad username pattern %q: {%s}: want {n} or {n:0W}, W 1..20, like {n:04}", p, ph)
			}
			fmt.Fprintf(&b, "%0*d", w, n)
		default:
			return "", false, fmt.Errorf("bad username pattern %q: unknown placeholder {%s}: want {n} or {n:0W}, like {n:04}", p, ph)
		}
		hasN = true
		i += end + 1
	}
	return b.String(), hasN, nil
}
