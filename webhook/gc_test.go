package webhook

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

func TestSetGCPercentOnceSynced(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	var synced atomic.Bool
	done := make(chan struct{})
	go func() {
		setGCPercentOnceSynced(context.Background(), synced.Load, GCPercent)
		close(done)
	}()
	time.Sleep(200 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d before the inventory synced, want 100", got)
	}
	synced.Store(true)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("not set within 5 s of the sync")
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GC percent %d after the sync, want %d", got, GCPercent)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	setGCPercentOnceSynced(ctx, func() bool { return false }, 300)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d after the context ended unsynced, want 100 unchanged", got)
	}
}
