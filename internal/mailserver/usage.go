package mailserver

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
