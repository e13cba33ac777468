package clients

import (
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/couriertest"
	"github.com/mailsim/mailsim/internal/leanimap"
)

// TestCreateFolderExisting: CREATE of a folder that exists already (one
// another device created meanwhile) is no failure, whether the server
// answers NO [ALREADYEXISTS] (the embedded server) or a NO without a code
// (Courier: "Cannot create this folder."), which LIST then resolves; a
// CREATE the server refuses for a folder that does not exist (Courier:
// "Archive" outside its "INBOX." namespace) stays an error. It runs over
// both clients: go-imap's (the devices' goimapConn) and the lean one
// (LeanFolders, the injector's).
func TestCreateFolderExisting(t *testing.T) {
	type testCase struct {
		name            string
		start           func(t *testing.T) (addr, user, pass string)
		existing, bad   string
		wantListOnExist bool
	}
	for _, tc := range []testCase{
		{"embedded", func(t *testing.T) (string, string, string) {
			return newIMAPEnv(t).addrs.IMAP, "alice", "secret"
		}, "Projects", "", false},
		{"courier", func(t *testing.T) (string, string, string) {
			inst := couriertest.Start(t, 1, couriertest.Options{})
			return inst.IMAP, inst.Username(1), inst.Password
		}, "INBOX.Projects", "Archive", true},
	} {
		for _, lean := range []bool{false, true} {
			name := tc.name + "/goimap"
			if lean {
				name = tc.name + "/lean"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testCreateFolderExisting(t, tc.start, tc.existing, tc.bad, tc.wantListOnExist, lean)
			})
		}
	}
}

func testCreateFolderExisting(t *testing.T, start func(t *testing.T) (addr, user, pass string), existing, bad string, wantListOnExist, lean bool) {
	addr, user, pass := start(t)
	login := func() FolderClient {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if lean {
			c, err := leanimap.New(conn, leanimap.Options{Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Login(user, pass); err != nil {
				t.Fatal(err)
			}
			return LeanFolders{c}
		}
		c := imapclient.New(conn, nil)
		t.Cleanup(func() { c.Close() })
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Fatal(err)
		}
		return goimapConn{c: c, wait: 30 * time.Second}
	}
	other, c := login(), login()
	if err := other.Create(existing); err != nil {
		t.Fatalf("the other device's CREATE %s: %v", existing, err)
	}
	var ran []string
	run := func(name string, fn func() error) error {
		ran = append(ran, name)
		return fn()
	}
	if err := CreateFolder(c, existing, run); err != nil {
		t.Errorf("CreateFolder(%s), created meanwhile: %v (commands %v)", existing, err, ran)
	}
	if got := len(ran) == 2 && ran[1] == "LIST"; got != wantListOnExist {
		t.Errorf("commands %v: LIST after CREATE %v, want %v", ran, got, wantListOnExist)
	}
	if bad != "" {
		ran = nil
		if err := CreateFolder(c, bad, run); err == nil {
			t.Errorf("CreateFolder(%s) outside the namespace: no error (commands %v)", bad, ran)
		}
	}
}
