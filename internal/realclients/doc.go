// Package realclients holds tests only: mail clients that no one here
// wrote — mbsync (isync), fetchmail, Python's imaplib and poplib, and
// dovecot/imaptest's compliance suite — run against the embedded server
// that `mailsim serve` runs (internal/mailserver) and, as the reference
// answer, against a private Dovecot (internal/dovecottest). Each test skips
// with a message when its client is not installed; under CI (CI set) a
// missing client fails it instead, because .ci/run installs them.
// docs/compliance.md describes the suite and its results.
package realclients
