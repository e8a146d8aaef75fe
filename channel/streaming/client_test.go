package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/gorilla/websocket"
)

// bot is the bot's end of the streaming protocol, built from the
// package's own conn (the interop tests run botbuilder-js's): it takes
// activities on POST /api/messages with status, and can call the
// gateway's Connector API back over the same socket.
type bot struct {
	status   atomic.Int32 // what /api/messages answers
	dropNext atomic.Bool  // drop the socket on the next activity, unanswered
	upgrades atomic.Int32

	mu        sync.Mutex
	header    http.Header // of the last upgrade
	conn      *conn
	delivered []activity.Activity
	got       chan activity.Activity
}

func newBot(t *testing.T) (*bot, string) {
	b := &bot{got: make(chan activity.Activity, 16)}
	b.status.Store(200)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		b.upgrades.Add(1)
		var self atomic.Pointer[conn] // the handler may run before newConn returns
		cn := newConn(ws, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != "POST" || r.URL.Path != "/api/messages" {
				w.WriteHeader(404)
				return
			}
			if b.dropNext.Swap(false) {
				for self.Load() == nil {
					time.Sleep(time.Millisecond)
				}
				self.Load().close(errors.New("dropped by the test"))
				return
			}
			var a activity.Activity
			body, _ := io.ReadAll(r.Body)
			json.Unmarshal(body, &a)
			b.mu.Lock()
			b.delivered = append(b.delivered, a)
			b.mu.Unlock()
			b.got <- a
			w.WriteHeader(int(b.status.Load()))
			w.Write([]byte(`{"id":"reply"}`))
		}), slog.New(slog.DiscardHandler))
		self.Store(cn)
		b.mu.Lock()
		b.header, b.conn = r.Header.Clone(), cn
		b.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return b, srv.URL + "/api/messages"
}

func (b *bot) current() *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn
}

func textActivity(text string) *activity.Activity {
	return &activity.Activity{Type: activity.TypeMessage, Text: text, Conversation: &activity.ConversationAccount{ID: "conv-1"}}
}

// An activity reaches the bot as POST /api/messages; the bot's Connector
// call comes back over the same socket to the bound handler; the upgrade
// carries the token and the channel id.
func TestClientDeliversAndServesTheConnector(t *testing.T) {
	b, endpoint := newBot(t)
	c := NewClient(endpoint, WithLogger(slog.New(slog.DiscardHandler)), WithToken(func() (string, error) { return "tok-1", nil }))
	defer c.Close()
	var connectorCalls atomic.Int32
	c.BindConnector(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connectorCalls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/v3/conversations/conv-1/activities" || !strings.Contains(string(body), "hello back") {
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(201)
		w.Write([]byte(`{"id":"conv-1-0001"}`))
	}))
	if got := c.url(); !strings.HasPrefix(got, "ws://") {
		t.Fatalf("url %q, want ws://", got)
	}
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a long utterance ", 600) // ~10 KB: several frames
	if err := c.Deliver(context.Background(), textActivity(long)); err != nil {
		t.Fatal(err)
	}
	a := <-b.got
	if a.Text != long || a.Conversation.ID != "conv-1" {
		t.Fatalf("the bot got %d characters of conversation %v, want the %d sent", len(a.Text), a.Conversation, len(long))
	}
	b.mu.Lock()
	hdr := b.header
	b.mu.Unlock()
	if hdr.Get("Authorization") != "Bearer tok-1" || hdr.Get("channelid") != activity.ChannelID {
		t.Fatalf("upgrade headers %v", hdr)
	}
	res, err := b.current().request(context.Background(), "POST", "/v3/conversations/conv-1/activities",
		[]byte(`{"type":"message","text":"hello back"}`))
	if err != nil || res.status != 201 || string(res.body) != `{"id":"conv-1-0001"}` || connectorCalls.Load() != 1 {
		t.Fatalf("the bot's Connector call: %d %s %v", res.status, res.body, err)
	}
}

// A non-2xx answer is a StatusError with the bot's body.
func TestClientStatusError(t *testing.T) {
	b, endpoint := newBot(t)
	b.status.Store(503)
	c := NewClient(endpoint, WithLogger(slog.New(slog.DiscardHandler)))
	defer c.Close()
	err := c.Deliver(context.Background(), textActivity("hi"))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.Body != `{"id":"reply"}` || !strings.Contains(se.Error(), "503") {
		t.Fatalf("Deliver: %v, want a StatusError 503 with the body", err)
	}
}

// A delivery cut off by a dropped socket is sent again on the next one,
// which the client dials by itself.
func TestClientRedialsAndResends(t *testing.T) {
	b, endpoint := newBot(t)
	c := NewClient(endpoint, WithLogger(slog.New(slog.DiscardHandler)))
	defer c.Close()
	b.dropNext.Store(true)
	if err := c.Deliver(context.Background(), textActivity("once")); err != nil {
		t.Fatal(err)
	}
	if a := <-b.got; a.Text != "once" {
		t.Fatalf("got %q", a.Text)
	}
	if n := b.upgrades.Load(); n != 2 {
		t.Fatalf("%d upgrades, want 2 (the drop, then the resend)", n)
	}
	b.mu.Lock()
	n := len(b.delivered)
	b.mu.Unlock()
	if n != 1 {
		t.Fatalf("the bot took the activity %d times, want 1", n)
	}
}

// After Close nothing is delivered; a bot that cannot be reached fails the
// delivery when its time is up, saying why; so does a token that cannot be
// had.
func TestClientClosedAndUnreachable(t *testing.T) {
	_, endpoint := newBot(t)
	c := NewClient(endpoint, WithLogger(slog.New(slog.DiscardHandler)))
	c.Close()
	if err := c.Deliver(context.Background(), textActivity("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	gone := NewClient("http://127.0.0.1:1/api/messages", WithLogger(slog.New(slog.DiscardHandler)), WithTimeout(300*time.Millisecond))
	defer gone.Close()
	if err := gone.Deliver(context.Background(), textActivity("x")); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable bot: %v, want an error naming it", err)
	}
	noToken := NewClient(endpoint, WithLogger(slog.New(slog.DiscardHandler)),
		WithToken(func() (string, error) { return "", errors.New("no credentials") }))
	defer noToken.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := noToken.Connect(ctx); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Fatalf("no token: %v, want the token's error", err)
	}
	if got := NewClient("https://bot.example/api/messages").url(); got != "wss://bot.example/api/messages" {
		t.Fatalf("url %q", got)
	}
}
