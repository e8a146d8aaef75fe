package recordingsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
)

// hook is a webhook consumer: it answers Event Grid's validation (unless
// refuse), fails the first failFirst notifications with 500, and keeps
// what it received.
type hook struct {
	mu         sync.Mutex
	failFirst  int
	refuse     bool
	validated  int
	posts      []post
	delivered  chan string // ids of events taken
	validation chan struct{}
}

type post struct {
	header http.Header
	body   []byte
	status int
}

func newHook(t *testing.T, failFirst int) (*hook, string) {
	h := &hook{failFirst: failFirst, delivered: make(chan string, 16), validation: make(chan struct{}, 16)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv.URL + "/events"
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Header.Get("aeg-event-type") == "SubscriptionValidation" {
		var evs []validationEvent
		json.Unmarshal(body, &evs)
		h.validation <- struct{}{}
		if h.refuse || len(evs) != 1 {
			w.Write([]byte(`{"validationResponse":"wrong"}`))
			return
		}
		h.validated++
		json.NewEncoder(w).Encode(map[string]string{"validationResponse": evs[0].Data.ValidationCode})
		return
	}
	p := post{header: r.Header.Clone(), body: body, status: 200}
	if h.failFirst > 0 {
		h.failFirst--
		p.status = 500
	}
	h.posts = append(h.posts, p)
	w.WriteHeader(p.status)
	if p.status == 200 {
		var evs []recorder.FileReadyEvent
		json.Unmarshal(body, &evs)
		for _, ev := range evs {
			h.delivered <- ev.ID
		}
	}
}

func (h *hook) snapshot() ([]post, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]post(nil), h.posts...), h.validated
}

func testEvent(id string) recorder.FileReadyEvent {
	return recorder.FileReadyEvent{ID: id, Subject: "/recording/call/c1", EventType: recorder.EventTypeFileReady}
}

func startNotifier(t *testing.T, n *AfterCall) (stop func()) {
	t.Helper()
	n.Logger = slog.New(slog.DiscardHandler)
	if err := n.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			n.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitEmpty(t *testing.T, n *AfterCall) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitEmpty(ctx); err != nil {
		t.Fatalf("events still queued: %v (%+v)", err, n.Stats())
	}
}

// A webhook that fails twice gets the event a third time, once validated,
// every post signed as Standard Webhooks says; the spool is empty after.
func TestNotifierRetriesSignsAndValidates(t *testing.T) {
	h, url := newHook(t, 2)
	secret := []byte("whsec-test")
	spool := t.TempDir()
	n := &AfterCall{SpoolDir: spool, Webhooks: Webhooks{URLs: []string{url}, Secret: secret, Handshake: true}}
	startNotifier(t, n)
	if err := n.Publish(testEvent("ev-1")); err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, n)
	posts, validated := h.snapshot()
	if validated != 1 {
		t.Fatalf("%d validations, want 1 (before the first event)", validated)
	}
	if len(posts) != 3 || posts[0].status != 500 || posts[1].status != 500 || posts[2].status != 200 {
		t.Fatalf("%d posts, want 2 failed then 1 taken", len(posts))
	}
	for _, p := range posts {
		id, ts := p.header.Get("webhook-id"), p.header.Get("webhook-timestamp")
		if id != "ev-1" || p.header.Get("webhook-signature") != Sign(secret, id, ts, p.body) {
			t.Fatalf("post not signed right: id %q signature %q", id, p.header.Get("webhook-signature"))
		}
		if p.header.Get("aeg-event-type") != "Notification" {
			t.Fatalf("aeg-event-type %q", p.header.Get("aeg-event-type"))
		}
	}
	var evs []recorder.FileReadyEvent
	if json.Unmarshal(posts[2].body, &evs) != nil || len(evs) != 1 || evs[0].ID != "ev-1" {
		t.Fatalf("body %s: want an Event Grid batch of the one event", posts[2].body)
	}
	if st := n.Stats(); st.Delivered != 1 || st.Failures != 2 || st.Notifying != 0 {
		t.Fatalf("stats %+v, want 1 delivered, 2 failures, none queued", st)
	}
	left, _ := filepath.Glob(filepath.Join(spool, "*.json"))
	if len(left) != 0 {
		t.Fatalf("spool still holds %v", left)
	}
	if b, err := os.ReadFile(filepath.Join(spool, "validated-webhooks")); err != nil || string(b) == "" {
		t.Fatalf("the validated URL was not remembered: %v", err)
	}
}

// An event that could not be delivered before a stop is delivered after a
// restart, with the same id, and a remembered validation is not asked
// again.
func TestNotifierResumesAfterRestart(t *testing.T) {
	h, url := newHook(t, 1000) // refuses every event for now
	spool := t.TempDir()
	n := &AfterCall{SpoolDir: spool, Webhooks: Webhooks{URLs: []string{url}, Handshake: true}}
	stop := startNotifier(t, n)
	n.Publish(testEvent("ev-2"))
	deadline := time.Now().Add(10 * time.Second)
	for n.Stats().Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no delivery was tried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if st := n.Stats(); st.Notifying != 1 {
		t.Fatalf("queued %d after the stop, want 1", st.Notifying)
	}
	h.mu.Lock()
	h.failFirst = 0
	h.mu.Unlock()
	again := &AfterCall{SpoolDir: spool, Webhooks: Webhooks{URLs: []string{url}, Handshake: true}}
	startNotifier(t, again)
	waitEmpty(t, again)
	if id := <-h.delivered; id != "ev-2" {
		t.Fatalf("delivered %q, want ev-2", id)
	}
	if _, validated := h.snapshot(); validated != 1 {
		t.Fatalf("%d validations over two starts, want 1", validated)
	}
}

// A URL that does not echo the validation code gets no event; the event
// waits in the spool.
func TestNotifierHandshakeRefused(t *testing.T) {
	h, url := newHook(t, 0)
	h.refuse = true
	n := &AfterCall{SpoolDir: t.TempDir(), Webhooks: Webhooks{URLs: []string{url}, Handshake: true}}
	startNotifier(t, n)
	n.Publish(testEvent("ev-3"))
	select {
	case <-h.validation:
	case <-time.After(10 * time.Second):
		t.Fatal("no validation was asked")
	}
	if posts, _ := h.snapshot(); len(posts) != 0 || n.Stats().Notifying != 1 {
		t.Fatalf("%d events posted to an unvalidated URL, %d queued; want 0 and 1", len(posts), n.Stats().Notifying)
	}
	none := &AfterCall{SpoolDir: t.TempDir()}
	if err := none.Init(); err != nil {
		t.Fatal(err)
	}
	if err := none.Publish(testEvent("x")); err != nil || none.Stats().Notifying != 0 {
		t.Fatalf("a pipeline with nowhere to send took an event: %v %+v", err, none.Stats())
	}
}

// A webhook that redirects is a failed delivery: the event and its
// signature never reach the host it points at.
func TestWebhookRedirectsAreNotFollowed(t *testing.T) {
	elsewhere, elsewhereURL := newHook(t, 0)
	for _, code := range []int{302, 307} {
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhereURL, code)
		}))
		defer redirect.Close()
		n := &AfterCall{SpoolDir: t.TempDir(), Webhooks: Webhooks{URLs: []string{redirect.URL}, Secret: []byte("s")}}
		stop := startNotifier(t, n)
		n.Publish(testEvent(fmt.Sprintf("ev-%d", code)))
		deadline := time.Now().Add(10 * time.Second)
		for n.Stats().Failures == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d: no delivery was tried", code)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if st := n.Stats(); st.Delivered != 0 || st.Notifying != 1 {
			t.Fatalf("%d: %+v, want nothing delivered and the event kept", code, st)
		}
	}
	if posts, _ := elsewhere.snapshot(); len(posts) != 0 {
		t.Fatalf("the redirect's target got %d posts", len(posts))
	}
}
