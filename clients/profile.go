package clients

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/scenarios"
)

// CheckProfile performs the checks New makes on a device profile, without
// the addresses and credentials New also needs: a known kind and protocol
// and a combination of them that exists, no negative interval, count or
// network shaping, and, for IMAP, fetch_new and fetch_open item lists that
// parse. It returns nil for a profile New accepts, else an error naming the
// profile and every problem found.
func CheckProfile(p *scenarios.DeviceProfile) error {
	if p == nil {
		return errors.New("clients: no device profile")
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch p.Kind {
	case scenarios.KindPC, scenarios.KindPhone, scenarios.KindWebmail:
	default:
		bad("unknown kind %q", p.Kind)
	}
	switch p.Protocol {
	case scenarios.IMAP:
		if _, _, err := imapFetchSpecs(p); err != nil {
			errs = append(errs, err)
		}
	case scenarios.POP3:
		if p.Kind == scenarios.KindWebmail {
			bad("webmail speaks imap, not pop3")
		}
	default:
		bad("unknown protocol %q", p.Protocol)
	}
	if p.PollInterval < 0 || p.DeleteAfter < 0 || p.LoginInterval < 0 || p.StatusInterval < 0 || p.Refresh < 0 {
		bad("negative interval")
	}
	if p.Connections < 0 {
		bad("negative connections %d", p.Connections)
	}
	if p.Window < 0 {
		bad("negative window %d", p.Window)
	}
	if p.PageSize < 0 {
		bad("negative page_size %d", p.PageSize)
	}
	if p.Network.Latency < 0 || p.Network.Bandwidth < 0 || p.Network.DisconnectEvery < 0 {
		bad("negative network shaping")
	}
	if len(errs) > 0 {
		return fmt.Errorf("profile %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}

// imapFetchSpecs returns the parsed new-mail and open fetch items of an
// IMAP profile: its fetch_new and fetch_open, or the defaults of its kind.
// The new-mail items always include UID and a source of the Message-ID.
func imapFetchSpecs(p *scenarios.DeviceProfile) (fetchNew, fetchOpen *imap.FetchOptions, err error) {
	fn, fo := p.FetchNew, p.FetchOpen
	if fn == "" {
		switch p.Kind {
		case scenarios.KindPC:
			fn = defaultFetchNewPC
		case scenarios.KindPhone:
			fn = defaultFetchNewPhone
		default:
			fn = defaultFetchNewWebmail
		}
	}
	if fo == "" {
		fo = defaultFetchOpen
	}
	var errs []error
	fetchNew, err = parseFetchItems(fn)
	if err != nil {
		errs = append(errs, fmt.Errorf("fetch_new: %w", err))
	} else {
		// The view is keyed by Message-ID: make sure new-mail fetches return it.
		ensureMessageID(fetchNew)
		fetchNew.UID = true
	}
	fetchOpen, err = parseFetchItems(fo)
	if err != nil {
		errs = append(errs, fmt.Errorf("fetch_open: %w", err))
	} else {
		ensureMessageID(fetchOpen)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return fetchNew, fetchOpen, nil
}
