package channel

import (
	"context"
	"errors"
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
	o := newOutbox(bot, slog.New(slog.DiscardHandler), &wg, nil)
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
	o := newOutbox(bot, slog.New(slog.DiscardHandler), &wg, nil)
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

// failingBot refuses every activity, as a bot whose endpoint is down.
type failingBot struct {
	mu    sync.Mutex
	tries int
}

func (b *failingBot) Deliver(context.Context, *activity.Activity) error {
	b.mu.Lock()
	b.tries++
	b.mu.Unlock()
	return errors.New("connection refused")
}

// The first failed delivery tells the conversation once that the bot is
// unavailable; the outbox then delivers nothing more (a bot that is gone
// is not hammered) and counts what it drops.
func TestOutboxBotUnavailable(t *testing.T) {
	bot := &failingBot{}
	told := make(chan *activity.Activity, 4)
	var wg sync.WaitGroup
	o := newOutbox(bot, slog.New(slog.DiscardHandler), &wg, func(a *activity.Activity, err error) { told <- a })
	o.push(&activity.Activity{Type: activity.TypeConversationUpdate})
	if a := <-told; a.Type != activity.TypeConversationUpdate {
		t.Fatalf("told of %s, want the conversationUpdate", a.Type)
	}
	for range 5 {
		o.push(&activity.Activity{Type: activity.TypeMessage})
	}
	o.push(&activity.Activity{Type: activity.TypeEndOfConversation})
	o.drain = time.Second
	o.close()
	wg.Wait()
	if len(told) != 0 {
		t.Error("told more than once")
	}
	if bot.tries != 1 || o.dropped != 6 {
		t.Errorf("%d deliveries tried, %d dropped; want 1 and 6", bot.tries, o.dropped)
	}
}
