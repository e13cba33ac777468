package clients

import "errors"

// errIMAPNotBuilt is returned until the IMAP devices are implemented.
var errIMAPNotBuilt = errors.New("clients: imap device not built yet")

// newIMAPPC returns a Thunderbird-like PC device over IMAP.
func newIMAPPC(o Options) (Device, error) { return nil, errIMAPNotBuilt }

// newIMAPPhone returns a K-9/iOS-like phone device over IMAP.
func newIMAPPhone(o Options) (Device, error) { return nil, errIMAPNotBuilt }

// newWebmail returns a Roundcube-like webmail device over IMAP.
func newWebmail(o Options) (Device, error) { return nil, errIMAPNotBuilt }
