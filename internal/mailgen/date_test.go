package mailgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestFormatDate holds formatDate to time.Time.Format(time.RFC1123Z) for
// dates across the years and offsets east and west of UTC, with and
// without seconds in the offset.
func TestFormatDate(t *testing.T) {
	locs := []*time.Location{
		time.UTC, time.Local,
		time.FixedZone("E", 5*3600+30*60), time.FixedZone("W", -(9*3600 + 30*60)),
		time.FixedZone("Ws", -(3600 + 59)), time.FixedZone("Es", 14*3600+45*60+17),
		time.FixedZone("Wmin", -59), time.FixedZone("Emin", 59),
	}
	dates := []time.Time{
		time.Date(2026, 12, 2, 21, 43, 30, 0, time.UTC),
		time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(999, 7, 4, 12, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // Format's own
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),    // Format's own
		{},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		dates = append(dates, time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)))
	}
	for _, d := range dates {
		for _, loc := range locs {
			d := d.In(loc)
			if got, want := formatDate(d), d.Format(time.RFC1123Z); got != want {
				t.Errorf("formatDate(%v) = %q, want %q", d, got, want)
			}
		}
	}
}

// BenchmarkFormatDate is the Date field of one generated message.
func BenchmarkFormatDate(b *testing.B) {
	d := time.Date(2026, 12, 2, 21, 43, 30, 0, time.UTC)
	b.Run("Format", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = d.Format(time.RFC1123Z)
		}
	})
	b.Run("formatDate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = formatDate(d)
		}
	})
}
