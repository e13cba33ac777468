package mailserver

import "time"

// UserUsage returns what the user called name (case-insensitive) stores,
// by folder role, one entry per role in the fixed order of Usage; ok is
// false for a user the server does not know. It takes the user's lock
// briefly and walks its mailboxes, so it is meant for the end of a run and
// for periodic samples, not for every command.
func (s *Server) UserUsage(name string) (usage []FolderUsage, ok bool) {
	u := s.store.user(name)
	if u == nil {
		return nil, false
	}
	var sum [numRoles]FolderUsage
	u.mu.Lock()
	for _, mb := range u.mailboxes {
		if mb.deleted {
			continue
		}
		sum[mb.role].Messages += len(mb.msgs)
		sum[mb.role].Bytes += mb.bytes
	}
	u.mu.Unlock()
	usage = make([]FolderUsage, 0, numRoles)
	for r := role(0); r < numRoles; r++ {
		sum[r].Role = r.String()
		usage = append(usage, sum[r])
	}
	return usage, true
}

// UserServiceTime returns the time the server spent answering the IMAP and
// POP3 commands of the user called name after login: for each command, from
// reading its line to writing its final reply, IDLE excepted (it waits for
// mail, it does no work). Deliveries (LMTP, SMTP) are not attributed to
// users. ok is false for an unknown user.
func (s *Server) UserServiceTime(name string) (d time.Duration, ok bool) {
	u := s.store.user(name)
	if u == nil {
		return 0, false
	}
	return time.Duration(u.service.Load()), true
}
