package clients

import (
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/couriertest"
)

// TestCreateFolderExisting: CREATE of a folder that exists already (one
// another device created meanwhile) is no failure, whether the server
// answers NO [ALREADYEXISTS] (the embedded server) or a NO without a code
// (Courier: "Cannot create this folder."), which LIST then resolves; a
// CREATE the server refuses for a folder that does not exist (Courier:
// "Archive" outside its "INBOX." namespace) stays an error.
func TestCreateFolderExisting(t *testing.T) {
	for _, tc := range []struct {
		name            string
		start           func(t *testing.T) (addr, user, pass string)
		existing, bad   string
		wantListOnExist bool
	}{
		{"embedded", func(t *testing.T) (string, string, string) {
			return newIMAPEnv(t).addrs.IMAP, "alice", "secret"
		}, "Projects", "", false},
		{"courier", func(t *testing.T) (string, string, string) {
			inst := couriertest.Start(t, 1, couriertest.Options{})
			return inst.IMAP, inst.Username(1), inst.Password
		}, "INBOX.Projects", "Archive", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, user, pass := tc.start(t)
			login := func() *imapclient.Client {
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				c := imapclient.New(conn, nil)
				t.Cleanup(func() { c.Close() })
				if err := c.Login(user, pass).Wait(); err != nil {
					t.Fatal(err)
				}
				return c
			}
			other, c := login(), login()
			if err := other.Create(tc.existing, nil).Wait(); err != nil {
				t.Fatalf("the other device's CREATE %s: %v", tc.existing, err)
			}
			var ran []string
			run := func(name string, fn func() error) error {
				ran = append(ran, name)
				return fn()
			}
			if err := CreateFolder(c, tc.existing, run); err != nil {
				t.Errorf("CreateFolder(%s), created meanwhile: %v (commands %v)", tc.existing, err, ran)
			}
			if got := len(ran) == 2 && ran[1] == "LIST"; got != tc.wantListOnExist {
				t.Errorf("commands %v: LIST after CREATE %v, want %v", ran, got, tc.wantListOnExist)
			}
			if tc.bad != "" {
				ran = nil
				if err := CreateFolder(c, tc.bad, run); err == nil {
					t.Errorf("CreateFolder(%s) outside the namespace: no error (commands %v)", tc.bad, ran)
				}
			}
		})
	}
}
