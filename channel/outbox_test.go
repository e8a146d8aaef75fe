package channel

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/activity"
)

// stuckBot takes its first activity and then never answers until its
// context ends, as a bot that hung would.
type stuckBot struct{ got chan *activity.Activity }

func (b *stuckBot) Deliver(ctx context.Context, a *activity.Activity) error {
	b.got <- a
	<-ctx.Done()
	return ctx.Err()
}

// A flood of activities for a bot that does not answer stays bounded: the
// queue holds at most maxQueued and the rest is counted as dropped, but
// endOfConversation is always queued.
func TestOutboxBounded(t *testing.T) {
	bot := &stuckBot{got: make(chan *activity.Activity, 1)}
	var wg sync.WaitGroup
	o := newOutbox(bot, slog.New(slog.DiscardHandler), &wg)
	o.push(&activity.Activity{Type: activity.TypeMessage, Text: "first"})
	<-bot.got // in flight, stuck
	for range 10000 {
		o.push(&activity.Activity{Type: activity.TypeMessage, Text: "5"})
	}
	if !o.push(&activity.Activity{Type: activity.TypeEndOfConversation}) {
		t.Error("endOfConversation refused by a full queue")
	}
	o.mu.Lock()
	queued, dropped := len(o.queue), o.dropped
	o.mu.Unlock()
	if queued != maxQueued+1 || dropped != 10000-maxQueued {
		t.Errorf("queued %d, dropped %d; want %d and %d", queued, dropped, maxQueued+1, 10000-maxQueued)
	}
	o.drain = 0
	o.close()
	wg.Wait()
}

// Deliveries end with the call: once closed, an outbox whose bot never
// answers stops after the drain time instead of delivering forever.
func TestOutboxEndsAfterDrain(t *testing.T) {
	bot := &stuckBot{got: make(chan *activity.Activity, 16)}
	var wg sync.WaitGroup
	o := newOutbox(bot, slog.New(slog.DiscardHandler), &wg)
	o.drain = 50 * time.Millisecond
	for range 3 {
		o.push(&activity.Activity{Type: activity.TypeMessage})
	}
	<-bot.got
	o.close()
	select {
	case <-o.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the outbox still delivers long after its call ended")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dropped != 2 {
		t.Errorf("dropped %d, want the 2 never delivered", o.dropped)
	}
}
