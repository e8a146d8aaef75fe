package recordingsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/recorder"
)

// Notifier delivers file-ready events to webhooks at least once. Each event
// is spooled to disk before the first attempt and removed once every URL
// took it (2xx), so a restart resumes delivery; failures are retried with
// exponential backoff.
type Notifier struct {
	URLs     []string
	SpoolDir string
	Client   *http.Client
	Logger   *slog.Logger
	// MaxBackoff caps the retry interval; default 5 minutes.
	MaxBackoff time.Duration

	mu   sync.Mutex
	wake chan struct{}
	wg   sync.WaitGroup

	queued              atomic.Int64  // spooled events not yet taken by every URL
	delivered, failures atomic.Uint64 // posts, by outcome
}

// NotifierStats are the notifier's counters.
type NotifierStats struct {
	Queued    int64  // events spooled and not yet taken by every URL
	Delivered uint64 // posts a webhook took (2xx)
	Failures  uint64 // posts that failed and will be retried
}

// Stats reads the counters.
func (n *Notifier) Stats() NotifierStats {
	return NotifierStats{Queued: n.queued.Load(), Delivered: n.delivered.Load(), Failures: n.failures.Load()}
}

// pending is a spooled event and the URLs that have not taken it yet.
type pending struct {
	Event     recorder.FileReadyEvent `json:"event"`
	Remaining []string                `json:"remaining"`
}

// Start resumes spooled events and delivers new ones until ctx ends.
func (n *Notifier) Start(ctx context.Context) error {
	if err := os.MkdirAll(n.SpoolDir, 0o750); err != nil {
		return fmt.Errorf("event spool: %w", err)
	}
	if n.Client == nil {
		n.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if n.Logger == nil {
		n.Logger = slog.Default()
	}
	if n.MaxBackoff == 0 {
		n.MaxBackoff = 5 * time.Minute
	}
	n.wake = make(chan struct{}, 1)
	spooled, _ := filepath.Glob(filepath.Join(n.SpoolDir, "*.json"))
	n.queued.Store(int64(len(spooled)))
	n.wg.Go(func() { n.loop(ctx) })
	return nil
}

// Wait returns when the delivery loop has stopped (after ctx ended).
func (n *Notifier) Wait() { n.wg.Wait() }

// Publish spools ev for every URL and wakes the delivery loop.
func (n *Notifier) Publish(ev recorder.FileReadyEvent) error {
	if len(n.URLs) == 0 {
		return nil
	}
	f := filepath.Join(n.SpoolDir, ev.ID+".json")
	n.mu.Lock()
	_, statErr := os.Stat(f)
	err := recorder.WriteJSON(f, pending{Event: ev, Remaining: n.URLs})
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spool event %s: %w", ev.ID, err)
	}
	if statErr != nil { // a new event, not one published again
		n.queued.Add(1)
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return nil
}

func (n *Notifier) loop(ctx context.Context) {
	backoff := time.Second
	for {
		failed := n.deliverAll(ctx)
		wait := n.MaxBackoff
		if failed {
			wait = backoff
			backoff = min(2*backoff, n.MaxBackoff)
		} else {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-time.After(wait):
		}
	}
}

// deliverAll tries every spooled event once; it reports whether any
// delivery failed.
func (n *Notifier) deliverAll(ctx context.Context) bool {
	files, _ := filepath.Glob(filepath.Join(n.SpoolDir, "*.json"))
	sort.Strings(files)
	failed := false
	for _, f := range files {
		var p pending
		n.mu.Lock()
		b, err := os.ReadFile(f)
		n.mu.Unlock()
		if err != nil || json.Unmarshal(b, &p) != nil {
			n.Logger.Error("event spool: unreadable entry", "file", f, "err", err)
			continue
		}
		var left []string
		for _, url := range p.Remaining {
			if err := n.post(ctx, url, p.Event); err != nil {
				n.Logger.Warn("file-ready event not delivered; will retry", "eventId", p.Event.ID, "url", url, "err", err)
				left = append(left, url)
				failed = true
				n.failures.Add(1)
				continue
			}
			n.delivered.Add(1)
			n.Logger.Info("file-ready event delivered", "eventId", p.Event.ID, "url", url)
		}
		n.mu.Lock()
		if len(left) == 0 {
			if os.Remove(f) == nil {
				n.queued.Add(-1)
			}
		} else if len(left) < len(p.Remaining) {
			p.Remaining = left
			_ = recorder.WriteJSON(f, p)
		}
		n.mu.Unlock()
	}
	return failed
}

// post sends ev as an Event Grid batch of one.
func (n *Notifier) post(ctx context.Context, url string, ev recorder.FileReadyEvent) error {
	body, _ := json.Marshal([]recorder.FileReadyEvent{ev})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", "Notification")
	res, err := n.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", res.StatusCode)
	}
	return nil
}
