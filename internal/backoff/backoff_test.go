package backoff

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// fixed is a Rand that always returns v.
type fixed float64

func (f fixed) Float64() float64 { return float64(f) }

func TestDelay(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		n    int
		rng  Rand
		want time.Duration
	}{
		{"defaults first", Options{}, 0, nil, DefaultBase},
		{"defaults doubled", Options{}, 3, nil, 8 * DefaultBase},
		{"defaults capped", Options{}, 30, nil, DefaultMax},
		{"base", Options{Base: 500 * time.Millisecond}, 1, nil, time.Second},
		{"cap", Options{Base: 15 * time.Second, Max: time.Minute}, 3, nil, time.Minute},
		{"max below base", Options{Base: time.Minute, Max: time.Second}, 2, nil, time.Minute},
		{"huge n", Options{Base: time.Second, Max: time.Hour}, 1 << 20, nil, time.Hour},
		{"jitter top", Options{Base: 10 * time.Second, Jitter: 0.5}, 0, fixed(0), 10 * time.Second},
		{"jitter bottom", Options{Base: 10 * time.Second, Jitter: 0.5}, 0, fixed(0.999999999), 5 * time.Second},
		{"jitter half", Options{Base: 8 * time.Second, Jitter: 0.5}, 0, fixed(0.5), 6 * time.Second},
		{"jitter without rng", Options{Base: 8 * time.Second, Jitter: 0.5}, 0, nil, 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.o.Delay(tt.n, tt.rng)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestDelaySameSeedSameWaits(t *testing.T) {
	o := Options{Base: 15 * time.Second, Max: 10 * time.Minute, Jitter: 0.5}
	a, b := rand.New(rand.NewPCG(7, 1)), rand.New(rand.NewPCG(7, 1))
	other := rand.New(rand.NewPCG(8, 1))
	differs := false
	for n := range 20 {
		da, db, dc := o.Delay(n, a), o.Delay(n, b), o.Delay(n, other)
		if da != db {
			t.Fatalf("retry %d: %v and %v from the same seed", n, da, db)
		}
		step := o.Delay(n, nil)
		if da > step || da < step/2 {
			t.Fatalf("retry %d: %v outside [%v, %v]", n, da, step/2, step)
		}
		differs = differs || da != dc
	}
	if !differs {
		t.Fatal("another seed gave the same waits: the jitter is not drawn")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		o    Options
		errs int
	}{
		{Options{}, 0},
		{Options{Base: time.Second, Max: time.Minute, Jitter: 1, Tries: 5}, 0},
		{Options{Base: -1}, 1},
		{Options{Max: -1}, 1},
		{Options{Jitter: 1.5}, 1},
		{Options{Jitter: -0.1}, 1},
		{Options{Tries: -1, Base: -1}, 2},
	}
	for _, tt := range tests {
		if errs := tt.o.Validate(); len(errs) != tt.errs {
			t.Errorf("%+v: %d problems %v, want %d", tt.o, len(errs), errs, tt.errs)
		}
	}
}

func TestRetry(t *testing.T) {
	errTemp, errFatal := errors.New("temporary"), errors.New("fatal")
	tests := []struct {
		name      string
		tries     int
		results   []error // f's results in order; nil: success
		retryable func(error) bool
		calls     int
		want      error
	}{
		{"first try", 3, []error{nil}, nil, 1, nil},
		{"second try", 3, []error{errTemp, nil}, nil, 2, nil},
		{"all fail", 3, []error{errTemp, errTemp, errTemp, nil}, nil, 3, errTemp},
		{"default tries", 0, []error{errTemp, errTemp, errTemp, nil}, nil, DefaultTries, errTemp},
		{"not retryable", 3, []error{errFatal, nil}, func(err error) bool { return err == errTemp }, 1, errFatal},
		{"retryable then not", 5, []error{errTemp, errFatal, nil}, func(err error) bool { return err == errTemp }, 2, errFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Retry(context.Background(), Options{Base: time.Millisecond, Tries: tt.tries}, nil, tt.retryable, func() error {
				calls++
				return tt.results[calls-1]
			})
			if err != tt.want || calls != tt.calls {
				t.Fatalf("Retry = %v after %d calls, want %v after %d", err, calls, tt.want, tt.calls)
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	errTemp := errors.New("temporary")
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Retry(ctx, Options{Base: time.Hour, Tries: 5}, nil, nil, func() error {
		calls++
		cancel()
		return errTemp
	})
	if err != errTemp || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want the last error after 1", err, calls)
	}
	calls = 0
	if err := Retry(ctx, Options{Tries: 5}, nil, nil, func() error { calls++; return errTemp }); err != errTemp || calls != 1 {
		t.Fatalf("Retry on an ended context = %v after %d calls, want the error of the one try", err, calls)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context = %v", err)
	}
}
