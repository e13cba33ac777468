package audit

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// t0 is the simulated start of every test.
var t0 = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

// fakeDevice is a hand-made device view.
type fakeDevice struct {
	mu sync.Mutex
	s  view.Snapshot
}

func newFakeDevice(window int) *fakeDevice {
	return &fakeDevice{s: view.Snapshot{Messages: map[string]view.Message{}, Window: window}}
}

func (d *fakeDevice) View() view.Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.s
	s.Messages = maps.Clone(d.s.Messages)
	s.FolderSynced = maps.Clone(d.s.FolderSynced)
	s.FolderLog = maps.Clone(d.s.FolderLog)
	s.Hidden = maps.Clone(d.s.Hidden)
	return s
}

// hide says the device's last sync of folder left n messages within its
// window out by design (view.Snapshot.Hidden).
func (d *fakeDevice) hide(folder string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s.Hidden == nil {
		d.s.Hidden = map[string]int{}
	}
	d.s.Hidden[folder] = n
}

func (d *fakeDevice) put(id, folder string, f view.Flags) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.Messages[id] = view.Message{ID: id, Folder: folder, Flags: f}
}

func (d *fakeDevice) del(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.s.Messages, id)
}

// sync records a completed sync of a device that syncs as a whole,
// begun at at, that changed what it shows (view.Snapshot.Log).
func (d *fakeDevice) sync(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.Log.Add(d.s.Synced, at)
	d.s.Synced = at
}

// syncFolders sets the device's folders' last syncs (an IMAP device's),
// and its Synced to the earliest; a folder whose last sync moved is
// logged as changed by it (view.Snapshot.FolderLog).
func (d *fakeDevice) syncFolders(folders map[string]time.Time) {
	d.syncFoldersQuiet(folders, nil)
}

// syncFoldersQuiet is syncFolders where the syncs of the folders of quiet
// changed nothing the device shows (not logged).
func (d *fakeDevice) syncFoldersQuiet(folders map[string]time.Time, quiet map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s.FolderLog == nil {
		d.s.FolderLog = map[string]view.SyncLog{}
	}
	for name, t := range folders {
		if prev, ok := d.s.FolderSynced[name]; (!ok || !prev.Equal(t)) && !quiet[name] {
			l := d.s.FolderLog[name]
			l.Add(prev, t)
			d.s.FolderLog[name] = l
		}
	}
	d.s.FolderSynced = maps.Clone(folders)
	d.s.Synced = time.Time{}
	for _, t := range folders {
		if d.s.Synced.IsZero() || t.Before(d.s.Synced) {
			d.s.Synced = t
		}
	}
}

// syncStamped records a completed sync of folder begun at at, as an IMAP
// device's (syncFoldersQuiet, the other folders' last syncs kept), that
// changed what the device shows unless quiet, and returns its stamp for
// the messages it brought (view.StampNone when quiet); the stamps of the
// messages in folder go through Keep, as a device's do
// (clients/imap_sync.go stampMsgs).
func (d *fakeDevice) syncStamped(folder string, at time.Time, quiet bool) view.Stamp {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s.FolderLog == nil {
		d.s.FolderLog = map[string]view.SyncLog{}
		d.s.FolderSynced = map[string]time.Time{}
	}
	st := view.StampNone
	l := d.s.FolderLog[folder]
	if !quiet {
		st = l.Add(d.s.FolderSynced[folder], at)
		for id, m := range d.s.Messages {
			if m.Folder == folder {
				m.Stamps = view.Stamps{Arrived: l.Keep(m.Stamps.Arrived), Flags: l.Keep(m.Stamps.Flags)}
				d.s.Messages[id] = m
			}
		}
	}
	d.s.FolderLog[folder] = l
	d.s.FolderSynced[folder] = at
	d.s.Synced = time.Time{}
	for _, t := range d.s.FolderSynced {
		if d.s.Synced.IsZero() || t.Before(d.s.Synced) {
			d.s.Synced = t
		}
	}
	return st
}

// markLeft records that a message left the view of folder with its last
// logged sync (view.SyncLog.MarkLeft).
func (d *fakeDevice) markLeft(folder string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.s.FolderLog[folder]
	l.MarkLeft()
	d.s.FolderLog[folder] = l
}

// putStamped puts a message with its stamps (view.Message.Stamps).
func (d *fakeDevice) putStamped(id, folder string, f view.Flags, st view.Stamps) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.Messages[id] = view.Message{ID: id, Folder: folder, Flags: f, Stamps: st}
}

// stamps returns the stamps of message id.
func (d *fakeDevice) stamps(id string) view.Stamps {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s.Messages[id].Stamps
}

// list sets the start of the device's last folder list
// (view.Snapshot.Listed).
func (d *fakeDevice) list(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.Listed = at
}

// fakeClock is a settable simulated clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t0.Add(d)
}

// fakeServer is a server truth: per user, messages by ID. drop, if set,
// is a Message-ID it "loses" (a broken server); fail fails every read,
// or only the reads of failUser when that is set.
type fakeServer struct {
	mu       sync.Mutex
	users    map[string]map[string]view.Message
	drop     string
	fail     error
	failUser string
}

func newFakeServer() *fakeServer { return &fakeServer{users: map[string]map[string]view.Message{}} }

func (s *fakeServer) put(user, id, folder string, f view.Flags) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[user] == nil {
		s.users[user] = map[string]view.Message{}
	}
	s.users[user][id] = view.Message{ID: id, Folder: folder, Flags: f}
}

func (s *fakeServer) del(user, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users[user], id)
}

func (s *fakeServer) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return view.Snapshot{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil && (s.failUser == "" || s.failUser == user) {
		return view.Snapshot{}, fmt.Errorf("fake server: %w", s.fail)
	}
	m := maps.Clone(s.users[user])
	if m == nil {
		m = map[string]view.Message{}
	}
	delete(m, s.drop)
	return view.Snapshot{Messages: m}, nil
}

// rig is one user with named devices on an auditor.
type rig struct {
	a      *Auditor
	clock  *fakeClock
	server *fakeServer
	dev    map[string]*fakeDevice
	lags   []time.Duration
}

type devDef struct {
	id, protocol string
	window       int
}

func newRig(user, group string, devs ...devDef) *rig {
	r := &rig{clock: &fakeClock{t: t0}, server: newFakeServer(), dev: map[string]*fakeDevice{}}
	r.a = New(Options{OnConverged: func(_ ChangeKind, lag time.Duration) { r.lags = append(r.lags, lag) }})
	r.addUser(user, group, devs...)
	return r
}

func (r *rig) addUser(user, group string, devs ...devDef) {
	spec := UserSpec{Name: user, Group: group}
	for _, d := range devs {
		fd := newFakeDevice(d.window)
		r.dev[user+"/"+d.id] = fd
		spec.Devices = append(spec.Devices, DeviceSpec{ID: user + "/" + d.id, Protocol: d.protocol, View: fd.View})
	}
	r.a.AddUser(spec)
}
