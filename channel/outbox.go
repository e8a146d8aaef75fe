package channel

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/botline/botline/activity"
)

// Outbox bounds: what one conversation may hold for a bot that is slow or
// gone.
const (
	// maxQueued bounds the activities waiting for the bot. Past it new ones
	// are dropped and counted (a caller flooding keys, a bot that stopped
	// answering), except endOfConversation, which always goes last.
	maxQueued = 256
	// drainTime bounds the deliveries still waiting when the call ended:
	// what is not delivered by then is dropped and counted.
	drainTime = 30 * time.Second
	// deliverTime bounds one delivery, its transport's own retries
	// included: a bot (or a streaming socket) that does not take an
	// activity by then is unavailable.
	deliverTime = 15 * time.Second
)

// outbox delivers one conversation's activities to the bot one at a time,
// in the order they were queued. Queuing never blocks, so a bot answering
// inside a delivery (the embedded bot does) never deadlocks; the queue is
// bounded instead (maxQueued), and its deliveries end drainTime after the
// call.
type outbox struct {
	bot    BotTransport
	log    *slog.Logger
	ctx    context.Context // canceled drainTime after close
	cancel context.CancelFunc
	drain  time.Duration

	// unavailable is told, once, of the first delivery that failed after
	// its transport's retries; from then on the outbox delivers nothing
	// (a bot that is gone is not hammered) and counts what it drops.
	unavailable func(a *activity.Activity, err error)

	// first gets the outcome of the first delivery (nil: the bot took it).
	first chan error
	// observe, if set, is told of every delivery: how long it took, and
	// whether it failed. Set before the first push.
	observe func(d time.Duration, err error)

	mu      sync.Mutex
	queue   []*activity.Activity
	closed  bool
	gone    bool // a delivery failed: the bot is unavailable
	dropped int  // activities not queued, or not delivered before the drain ended
	wake    chan struct{}
	done    chan struct{}
}

func newOutbox(bot BotTransport, log *slog.Logger, wg *sync.WaitGroup, unavailable func(*activity.Activity, error)) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{bot: bot, log: log, ctx: ctx, cancel: cancel, drain: drainTime, unavailable: unavailable,
		wake: make(chan struct{}, 1), done: make(chan struct{}), first: make(chan error, 1)}
	wg.Go(o.run)
	return o
}

// push queues a; it reports false once the outbox is closed or when a is
// dropped because the queue is full.
func (o *outbox) push(a *activity.Activity) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	if len(o.queue) >= maxQueued && a.Type != activity.TypeEndOfConversation {
		if o.dropped == 0 {
			o.log.Warn("bot is not keeping up: activities dropped", "queued", len(o.queue), "type", a.Type, "name", a.Name)
		}
		o.dropped++
		return false
	}
	o.queue = append(o.queue, a)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// unreachable reports whether a delivery failed: the bot is unavailable.
func (o *outbox) unreachable() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gone
}

// close delivers what is queued, for at most the drain time, then stops.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	time.AfterFunc(o.drain, o.cancel)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) run() {
	defer close(o.done)
	defer o.cancel()
	for {
		o.mu.Lock()
		batch := o.queue
		o.queue = nil
		closed := o.closed
		o.mu.Unlock()
		for i, a := range batch {
			if o.ctx.Err() != nil {
				o.mu.Lock()
				o.dropped += len(batch) - i
				o.mu.Unlock()
				break
			}
			o.mu.Lock()
			gone := o.gone
			if gone {
				o.dropped++
			}
			o.mu.Unlock()
			if gone {
				continue
			}
			ctx, cancel := context.WithTimeout(o.ctx, deliverTime)
			t0 := time.Now()
			err := o.bot.Deliver(ctx, a)
			cancel()
			if o.observe != nil {
				o.observe(time.Since(t0), err)
			}
			select {
			case o.first <- err: // only the first fits
			default:
			}
			if err != nil && o.ctx.Err() == nil {
				o.log.Error("delivery to bot failed", "type", a.Type, "name", a.Name, "id", a.ID, "err", err)
				o.mu.Lock()
				o.gone = true
				o.mu.Unlock()
				if o.unavailable != nil {
					o.unavailable(a, err)
				}
			}
		}
		if len(batch) > 0 {
			continue
		}
		if closed {
			o.mu.Lock()
			if o.dropped > 0 {
				o.log.Warn("activities the bot never got", "dropped", o.dropped)
			}
			o.mu.Unlock()
			return
		}
		<-o.wake
	}
}
