package clients

import (
	"errors"
	"fmt"
	"time"

	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// New returns the device o.Profile describes: its kind (pc, phone,
// webmail) and protocol (imap, pop3) choose the implementation. New checks
// o and returns a clear error for a missing required field, an unknown kind
// or protocol, a combination that does not exist (webmail over POP3) or
// any other profile problem Profile.Validate finds. It does not connect;
// Run does.
func New(o Options) (Device, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := o.Profile
	switch p.Protocol {
	case POP3:
		return newPOP3Device(o)
	case IMAP:
		switch p.Kind {
		case KindPC:
			return newIMAPPC(o)
		case KindPhone:
			return newIMAPPhone(o)
		case KindWebmail:
			return newWebmail(o)
		}
	}
	// validate has rejected everything else.
	return nil, fmt.Errorf("clients: device %s: no %s device over %s", o.ID, p.Kind, p.Protocol)
}

// validate checks the required fields of o and its profile.
func (o *Options) validate() error {
	var errs []error
	missing := func(field string) { errs = append(errs, fmt.Errorf("%s is required", field)) }
	if o.ID == "" {
		missing("ID")
	}
	if o.Username == "" {
		missing("Username")
	}
	if o.Password == "" {
		missing("Password")
	}
	if o.Address == "" {
		missing("Address")
	}
	if o.Clock == nil {
		o.Clock = simclock.New(1, time.Now())
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("the Timeout %v is negative", o.Timeout))
	}
	if o.StopGrace < 0 {
		errs = append(errs, fmt.Errorf("the StopGrace %v is negative", o.StopGrace))
	}
	if p := o.Profile; p == nil {
		missing("Profile")
	} else {
		if err := checkProfile(p); err != nil {
			errs = append(errs, err)
		}
		var ep transport.Endpoint
		switch p.Protocol {
		case IMAP:
			ep = o.IMAP
		case POP3:
			ep = o.POP3
		}
		if p.Protocol == IMAP || p.Protocol == POP3 {
			if ep.Addr == "" {
				errs = append(errs, fmt.Errorf("profile %q: no %s server address", p.Name, p.Protocol))
			}
			switch ep.TLS {
			case "", transport.TLSNone, transport.TLSStartTLS, transport.TLSImplicit:
			default:
				errs = append(errs, fmt.Errorf("profile %q: unknown tls mode %q", p.Name, ep.TLS))
			}
		}
	}
	if len(errs) > 0 {
		id := o.ID
		if id == "" {
			id = "(no ID)"
		}
		return fmt.Errorf("clients: device %s: %w", id, errors.Join(errs...))
	}
	return nil
}
