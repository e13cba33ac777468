package report

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
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

// TestServerStorageNotKnown: a server whose store was not read says so —
// null in the JSON, "not known" in the summary and the projections, no
// storage chart — instead of 0; a real server's users' storage read at
// the end is shown as theirs, its growth unknown; a merge with one shard
// not knowing it does not know it.
func TestServerStorageNotKnown(t *testing.T) {
	unknown := sampleInput(t)
	unknown.StorageUnknown, unknown.StorageStartUnknown = true, true
	tl := &Timeline{}
	for i := range 3 {
		tl.Add(Sample{At: time.Duration(i) * time.Second, NoStorage: true})
	}
	unknown.Timeline = tl
	users := sampleInput(t)
	users.StorageUsers, users.StorageStartUnknown = true, true
	for _, tt := range []struct {
		name      string
		in        Input
		json      []string
		summary   string
		projected []string
	}{
		{"unknown", unknown, []string{`"stored_messages":null`, `"stored_bytes":null`, `"storage_source":"unknown"`, `"stored_bytes_start":null`},
			"server storage not known", []string{"stored at the end of a run this long: not known", "storage growth per day: not known"}},
		{"users", users, []string{`"stored_messages":900`, `"storage_source":"users"`, `"stored_messages_start":null`},
			"the simulated users' mailboxes store 900 messages", []string{"stored at the end of a run this long: 900000 messages", "storage growth per day: not known", "its growth is not known"}},
		{"server", sampleInput(t), []string{`"stored_messages":900`, `"storage_source":"server"`, `"stored_messages_start":0`},
			"server storage 900 messages", []string{"storage growth per day: 1296"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.in)
			var js, sum, proj, html bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			compact := strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(js.String())
			for _, want := range tt.json {
				if !strings.Contains(compact, want) {
					t.Errorf("JSON lacks %s", want)
				}
			}
			if err := r.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sum.String(), tt.summary) {
				t.Errorf("summary lacks %q", tt.summary)
			}
			if err := Project(r, 1000*r.Users).WriteProjection(&proj); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.projected {
				if !strings.Contains(proj.String(), want) {
					t.Errorf("projection lacks %q:\n%s", want, proj.String())
				}
			}
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			if chart := strings.Contains(html.String(), "Server storage (MiB)"); chart == (tt.name == "unknown") {
				t.Errorf("storage chart drawn %v", chart)
			}
			back, err := ReadJSON(bytes.NewReader(js.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, ok := back.Server.Storage(); ok == (tt.name == "unknown") {
				t.Errorf("storage known %v after a JSON round trip", ok)
			}
		})
	}
	// A merge: one shard without the store does not know the whole's.
	var shards []*Report
	for i, in := range []Input{sampleInput(t), unknown} {
		in.Shard = fmt.Sprintf("%d/2", i+1)
		shards = append(shards, Build(in))
	}
	m, err := Merge(shards)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.Server.Storage(); ok || m.Server.StorageSource != StorageUnknown {
		t.Errorf("merged storage known (%s) with a shard that did not know it", m.Server.StorageSource)
	}
	if s := m.Timeline[len(m.Timeline)-1]; s.StoredBytes != nil {
		t.Errorf("merged last sample %+v knows the store a shard did not", s)
	}
	// A whole store and users' mailboxes do not add up.
	shards[1] = Build(func() Input { in := users; in.Shard = "2/2"; return in }())
	if m, err := Merge(shards); err != nil {
		t.Fatal(err)
	} else if _, _, ok := m.Server.Storage(); ok || m.Server.StorageSource != StorageUnknown {
		t.Errorf("merged server and users storage: %s, known %v", m.Server.StorageSource, ok)
	}
	// A report of an earlier version has no source: its count was the
	// server's.
	var js bytes.Buffer
	if err := Build(sampleInput(t)).WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(js.String(), `"storage_source": "server",`, "", 1)
	if old == js.String() {
		t.Fatal("no storage_source to remove from the JSON")
	}
	if back, err := ReadJSON(strings.NewReader(old)); err != nil || back.Server.StorageSource != StorageServer {
		t.Errorf("an earlier version's report reads as %q (%v)", back.Server.StorageSource, err)
	}
	shards[1] = Build(func() Input { in := sampleInput(t); in.Shard = "2/2"; return in }())
	if m, err := Merge(shards); err != nil {
		t.Fatal(err)
	} else if msgs, _, ok := m.Server.Storage(); !ok || msgs != 1800 || m.Server.StorageSource != StorageServer {
		t.Errorf("merged storage %d %v %s, want 1800 from the server", msgs, ok, m.Server.StorageSource)
	}
}
