package faketest

import (
	"runtime"
	"testing"
	"time"
)

// GoroutinesBack fails t unless the process's goroutines come back to
// before (runtime.NumGoroutine, counted before the test started its
// servers and clients) within wait: goroutines end asynchronously after
// the connections they served are closed, so it looks every 10 ms. A
// failure prints every goroutine's stack; what says after what ("after
// Close").
func GoroutinesBack(t testing.TB, before int, wait time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines %s, %d before:\n%s", n, what, before, buf[:runtime.Stack(buf, true)])
	}
}
