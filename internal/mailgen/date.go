package mailgen

import "time"

// formatDate returns t as time.RFC1123Z formats it ("Mon, 02 Jan 2006
// 15:04:05 -0700"), the Date field of every generated message, without
// time.Time.Format's walk over the layout: one conversion of t to its
// calendar fields and a fixed sequence of appends. Years outside 0–9999,
// which Format writes otherwise, are left to Format.
func formatDate(t time.Time) string {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(time.RFC1123Z)
	}
	hour, minute, sec := t.Clock()
	_, offset := t.Zone()
	var b [len(time.RFC1123Z)]byte
	out := b[:0]
	out = append(out, t.Weekday().String()[:3]...)
	out = append(out, ", "...)
	out = append2(out, day)
	out = append(out, ' ')
	out = append(out, month.String()[:3]...)
	out = append(out, ' ')
	out = append2(out, year/100)
	out = append2(out, year%100)
	out = append(out, ' ')
	out = append2(out, hour)
	out = append(out, ':')
	out = append2(out, minute)
	out = append(out, ':')
	out = append2(out, sec)
	out = append(out, ' ')
	// As Format's -0700: the offset in whole minutes, its sign, hours and
	// minutes.
	zone := offset / 60
	if zone < 0 {
		out = append(out, '-')
		zone = -zone
	} else {
		out = append(out, '+')
	}
	out = append2(out, zone/60)
	out = append2(out, zone%60)
	return string(out)
}

// append2 appends n, 0 <= n <= 99, as two decimal digits.
func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}
