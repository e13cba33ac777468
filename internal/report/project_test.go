package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestProject(t *testing.T) {
	in := sampleInput(t)
	in.StoredMessagesStart, in.StoredBytesStart = 100, 100000
	r := Build(in) // 4 users, 6000 s simulated
	p := Project(r, 4000)
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("factor", p.Factor, 1000)
	near("imap FETCH/s", p.Commands["imap"]["FETCH"], 1000.0*1000/6000)
	near("imap/s", p.CommandsPerSecond["imap"], 1500.0*1000/6000)
	near("pop3 logins/s", p.LoginsPerSecond["pop3"], 41.0*1000/6000)
	near("imap bytes in/s", p.BytesPerSecond["imap"].In, float64(5<<20)*1000/6000)
	near("peak connections", p.PeakConnections, 9000)
	near("stored bytes", p.StoredBytes, 900000*1000)
	near("growth bytes/day", p.StorageGrowthBytesPerDay, 800000.0*1000/6000*86400)
	var buf bytes.Buffer
	if err := p.WriteProjection(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"from 4 to 4000 users", "FETCH", "166.7", "peak connections: 9000", "logins pop3"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("projection lacks %q:\n%s", want, buf.String())
		}
	}

	empty := Project(&Report{}, 10)
	if len(empty.Notes) == 0 || empty.PeakConnections != 0 {
		t.Errorf("projection of an empty report = %+v, want a note", empty)
	}
}
