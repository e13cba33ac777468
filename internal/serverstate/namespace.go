package serverstate

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/clients"
)

// foreignNamespaces returns the prefixes of the other users' and shared
// namespaces of c's server (clients.ForeignPrefixes), whose folders are
// not the logged-in user's mail: the preflight's look and the auditor's
// reader leave them out, as the devices do. It asks with NAMESPACE,
// through do (which counts or records the command), when the server
// offers it; else there are none to tell.
func foreignNamespaces(c *imapclient.Client, do func(command string, f func() error) error) ([]string, error) {
	if caps := c.Caps(); !caps.Has(imap.CapNamespace) && !caps.Has(imap.CapIMAP4rev2) {
		return nil, nil
	}
	var ns *imap.NamespaceData
	err := do("NAMESPACE", func() (err error) {
		ns, err = c.Namespace().Wait()
		return err
	})
	if err != nil {
		return nil, err
	}
	return clients.ForeignPrefixes(ns), nil
}
