//go:build !race

package leanimap

// raceEnabled: the race detector is on (see race_test.go).
const raceEnabled = false
