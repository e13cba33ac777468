package simclock

import (
	"context"
	"testing"
	"time"
)

func TestConversions(t *testing.T) {
	epoch := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		scale     float64
		sim, wall time.Duration
		wantScale float64
	}{
		{60, 15 * time.Minute, 15 * time.Second, 60},
		{1, time.Second, time.Second, 1},
		{0, time.Minute, time.Minute, 1},  // <= 0 is taken as 1
		{-5, time.Minute, time.Minute, 1}, // likewise
		{240, 8 * time.Hour, 2 * time.Minute, 240},
		{0.5, time.Second, 2 * time.Second, 0.5},
	} {
		c := New(tt.scale, epoch)
		if c.Scale() != tt.wantScale {
			t.Errorf("scale %v: Scale() = %v", tt.scale, c.Scale())
		}
		if got := c.Wall(tt.sim); got != tt.wall {
			t.Errorf("scale %v: Wall(%v) = %v, want %v", tt.scale, tt.sim, got, tt.wall)
		}
		if got := c.Sim(tt.wall); got != tt.sim {
			t.Errorf("scale %v: Sim(%v) = %v, want %v", tt.scale, tt.wall, got, tt.sim)
		}
	}
}

func TestNowAndSimAtStartAtEpoch(t *testing.T) {
	epoch := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	c := New(3600, epoch)
	if now := c.Now(); now.Before(epoch) {
		t.Errorf("Now() = %v before the epoch %v", now, epoch)
	}
	if got := c.SimAt(c.wallStart.Add(time.Second)); !got.Equal(epoch.Add(time.Hour)) {
		t.Errorf("one wall second after start is %v, want %v", got, epoch.Add(time.Hour))
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	c := New(1, time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := c.Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	if err := New(1e6, time.Time{}).Sleep(context.Background(), time.Second); err != nil {
		t.Errorf("a short sleep = %v", err)
	}
}
