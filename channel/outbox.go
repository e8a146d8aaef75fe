package channel

import (
	"context"
	"log/slog"
	"sync"

	"github.com/botline/botline/activity"
)

// outbox delivers one conversation's activities to the bot one at a time,
// in the order they were queued. The queue is unbounded so that a bot
// answering inside a delivery (the embedded bot does) never deadlocks.
type outbox struct {
	bot BotTransport
	log *slog.Logger

	mu     sync.Mutex
	queue  []*activity.Activity
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newOutbox(bot BotTransport, log *slog.Logger, wg *sync.WaitGroup) *outbox {
	o := &outbox{bot: bot, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	wg.Go(o.run)
	return o
}

// push queues a; it reports false once the outbox is closed.
func (o *outbox) push(a *activity.Activity) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.queue = append(o.queue, a)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// close delivers what is queued, then stops.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		o.mu.Lock()
		batch := o.queue
		o.queue = nil
		closed := o.closed
		o.mu.Unlock()
		for _, a := range batch {
			if err := o.bot.Deliver(context.Background(), a); err != nil {
				o.log.Error("delivery to bot failed", "type", a.Type, "name", a.Name, "id", a.ID, "err", err)
			}
		}
		if len(batch) > 0 {
			continue
		}
		if closed {
			return
		}
		<-o.wake
	}
}
