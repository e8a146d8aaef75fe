package recordingsapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/randid"
	"github.com/botline/botline/internal/retry"
	"github.com/botline/botline/recorder"
)

// Notifier delivers file-ready events to webhooks at least once. Each event
// is spooled to disk before the first attempt and removed once every URL
// took it (2xx), so a restart resumes delivery; failures are retried with
// exponential backoff.
//
// With Handshake, a URL gets events only once it has answered Event Grid's
// subscription validation (a SubscriptionValidationEvent echoed back as
// validationResponse); the URLs that did are remembered in the spool. With
// Secret, every post is signed as Standard Webhooks says (webhook-id,
// webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of
// "id.timestamp.body">), so the consumer can tell botline's events from
// forged or altered ones, and replays.
type Notifier struct {
	URLs     []string
	SpoolDir string
	Client   *http.Client
	Logger   *slog.Logger
	// MaxBackoff caps the retry interval; default 5 minutes.
	MaxBackoff time.Duration
	// Secret signs every post; nil: unsigned.
	Secret []byte
	// Handshake validates each URL once before its first event.
	Handshake bool

	mu   sync.Mutex
	wake chan struct{}
	wg   sync.WaitGroup

	validated map[string]bool // URLs that passed the handshake; owned by the loop

	queued              atomic.Int64  // spooled events not yet taken by every URL
	delivered, failures atomic.Uint64 // posts, by outcome
}

// NotifierStats are the notifier's counters.
type NotifierStats struct {
	Queued    int64  // events spooled and not yet taken by every URL
	Delivered uint64 // posts a webhook took (2xx)
	Failures  uint64 // posts that failed and will be retried
}

// WaitEmpty returns once every spooled event was taken by every URL, or
// when ctx ends (its error then): a draining gateway lets its last events
// go out before it stops.
func (n *Notifier) WaitEmpty(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for n.queued.Load() > 0 {
		select {
		case n.wake <- struct{}{}: // try now rather than at the next backoff
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
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
	n.validated = map[string]bool{}
	if b, err := os.ReadFile(n.statePath()); err == nil {
		var urls []string
		json.Unmarshal(b, &urls)
		for _, u := range urls {
			n.validated[u] = true
		}
	}
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
	retry.Loop(ctx, n.wake, n.MaxBackoff, n.MaxBackoff, func() bool { return n.deliverAll(ctx) })
}

// deliverAll tries every spooled event once; it reports whether any
// delivery failed.
func (n *Notifier) deliverAll(ctx context.Context) bool {
	files, _ := filepath.Glob(filepath.Join(n.SpoolDir, "*.json"))
	sort.Strings(files)
	failed := false
	handshakes := map[string]error{} // this pass's, so a failing URL is asked once
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
			if n.Handshake && !n.validated[url] {
				err, tried := handshakes[url]
				if !tried {
					err = n.handshake(ctx, url)
					handshakes[url] = err
				}
				if err != nil {
					if !tried {
						n.Logger.Warn("webhook did not answer the subscription validation; events wait for it", "url", url, "err", err)
					}
					left = append(left, url)
					failed = true
					continue
				}
			}
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
	res, err := n.send(ctx, url, "Notification", ev.ID, body)
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

// send POSTs body with the Event Grid event type header, signed when there
// is a secret.
func (n *Notifier) send(ctx context.Context, url, eventType, id string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", eventType)
	if n.Secret != nil {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", Sign(n.Secret, id, ts, body))
	}
	return n.Client.Do(req)
}

// Sign is the Standard Webhooks signature of body: "v1," and the base64
// HMAC-SHA256 of "id.timestamp.body" with secret.
func Sign(secret []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// validationEvent is Event Grid's SubscriptionValidationEvent.
type validationEvent struct {
	ID      string `json:"id"`
	Topic   string `json:"topic"`
	Subject string `json:"subject"`
	Data    struct {
		ValidationCode string `json:"validationCode"`
	} `json:"data"`
	EventType       string `json:"eventType"`
	EventTime       string `json:"eventTime"`
	MetadataVersion string `json:"metadataVersion"`
	DataVersion     string `json:"dataVersion"`
}

// handshake sends url a SubscriptionValidationEvent and wants its code
// back as validationResponse; a URL that passes is remembered.
func (n *Notifier) handshake(ctx context.Context, url string) error {
	ev := validationEvent{ID: randid.New(), EventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
		EventTime: time.Now().UTC().Format(time.RFC3339Nano), MetadataVersion: "1", DataVersion: "1"}
	ev.Data.ValidationCode = randid.New()
	body, _ := json.Marshal([]validationEvent{ev})
	res, err := n.send(ctx, url, "SubscriptionValidation", ev.ID, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var answer struct {
		ValidationResponse string `json:"validationResponse"`
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("validation answered %d", res.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 4096)).Decode(&answer); err != nil || answer.ValidationResponse != ev.Data.ValidationCode {
		return fmt.Errorf("validation answered without the validationCode as validationResponse")
	}
	n.validated[url] = true
	var urls []string
	for u := range n.validated {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	if err := recorder.WriteJSON(n.statePath(), urls); err != nil {
		n.Logger.Warn("validated webhooks not saved; they will be asked again after a restart", "err", err)
	}
	n.Logger.Info("webhook validated", "url", url)
	return nil
}

// statePath holds the validated URLs; not *.json, which are events.
func (n *Notifier) statePath() string { return filepath.Join(n.SpoolDir, "validated-webhooks") }
