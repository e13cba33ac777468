//go:build race

package leanimap

// raceEnabled: the race detector is on, and sync.Pool drops some of what
// it is given (TestSessionAllocs then counts more allocations).
const raceEnabled = true
