package serverstate

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/clients"
)

// foreignNamespaces returns what tells the other users' and shared
// namespaces of a server (clients.ForeignFolders), whose folders are not
// the logged-in user's mail: the preflight's look and the auditor's
// reader leave them out, as the devices do. It asks with namespace (a
// NAMESPACE command), through do (which counts or records the command),
// when the server offers it (offersNamespace); else there are none to
// tell. A NAMESPACE the server refused (NO, BAD: the session stays in
// step) tells none either, as for the devices (clients
// imapDevice.namespace): refused is then the server's refusal, for the
// caller to say so, and err is nil. err is any other failure, after which
// the session is out of step or closed.
func foreignNamespaces(offered bool, namespace func() (*imap.NamespaceData, error), do func(command string, f func() error) error) (foreign clients.Foreign, refused, err error) {
	if !offered {
		return clients.Foreign{}, nil, nil
	}
	var ns *imap.NamespaceData
	err = do("NAMESPACE", func() (err error) {
		ns, err = namespace()
		return err
	})
	var ie *imap.Error
	if errors.As(err, &ie) {
		return clients.Foreign{}, err, nil
	}
	if err != nil {
		return clients.Foreign{}, nil, err
	}
	return clients.ForeignFolders(ns), nil, nil
}

// offersNamespace reports whether a server whose capabilities has
// reports offers NAMESPACE (RFC 2342, part of IMAP4rev2).
func offersNamespace(has func(imap.Cap) bool) bool {
	return has(imap.CapNamespace) || has(imap.CapIMAP4rev2)
}
