// Package archtest holds tests only: it enforces the import directions of
// docs/architecture.md, so that the package graph cannot drift from the
// documented one (clients never importing internal/engine, scenarios never
// importing clients, production code never importing a test helper).
//
// A new import between two of mailsim's packages fails its test until the
// table in archtest_test.go and docs/architecture.md both allow it.
package archtest
