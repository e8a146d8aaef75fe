package channel

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/sip"
)

// fakeCall is the call control a conversation drives: it records what the
// conversation asked of the call, and plays nothing.
type fakeCall struct {
	plays     chan uint64 // tags of the audio queued, in order
	transfers chan string
	hangups   chan struct{}
	polled    chan bool // what each Playing call answered

	mu          sync.Mutex
	tag         uint64
	playing     bool
	stops       int
	keys        string
	transferErr error
}

func newFakeCall() *fakeCall {
	return &fakeCall{plays: make(chan uint64, 16), transfers: make(chan string, 4), hangups: make(chan struct{}, 4),
		polled: make(chan bool, 64)}
}

func (f *fakeCall) Hangup(context.Context) error { f.hangups <- struct{}{}; return nil }

func (f *fakeCall) Play(_ []int16, tag uint64) {
	f.mu.Lock()
	f.tag, f.playing = tag, true
	f.mu.Unlock()
	f.plays <- tag
}

func (f *fakeCall) Playing() (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polled <- f.playing
	return f.tag, f.playing
}

// finish ends the audio playing, as the call's media does when it ran out.
func (f *fakeCall) finish() {
	f.mu.Lock()
	f.playing = false
	f.mu.Unlock()
}

func (f *fakeCall) StopPlayback() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops++
	was := f.playing
	f.playing = false
	if was {
		return 1
	}
	return 0
}

func (f *fakeCall) stopCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stops
}

func (f *fakeCall) SendDTMF(digits string) error {
	f.mu.Lock()
	f.keys += digits
	f.mu.Unlock()
	return nil
}

func (f *fakeCall) Transfer(_ context.Context, target string) error {
	f.transfers <- target
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transferErr
}

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	armed chan time.Duration // each AfterFunc's delay, in order

	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{armed: make(chan time.Duration, 16), now: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f})
	c.mu.Unlock()
	c.armed <- d
}

// advance moves the clock and runs the timers that came due, in order.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
		} else {
			due = append(due, t.f)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// toneTTS "speaks" every prompt as one second of audio.
type toneTTS struct{}

func (toneTTS) Synthesize(context.Context, string, string, float64) ([]int16, int, error) {
	return make([]int16, 8000), 8000, nil
}

// botRecorder is a bot that keeps what it is sent.
type botRecorder struct{ got chan *activity.Activity }

func (b *botRecorder) Deliver(_ context.Context, a *activity.Activity) error {
	b.got <- a
	return nil
}

// next returns the next activity the bot got.
func (b *botRecorder) next(t *testing.T) *activity.Activity {
	t.Helper()
	select {
	case a := <-b.got:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("the bot got nothing")
		return nil
	}
}

// call is one conversation of a test gateway on a fake call.
type call struct {
	g    *Gateway
	sip  *sip.Call
	fake *fakeCall
	conv *conversation
	bot  *botRecorder
}

// newCall opens a conversation on a fake call of a gateway built from
// cfg, and takes the bot's conversationUpdate.
func newCall(t *testing.T, cfg Config) *call {
	t.Helper()
	return newCallOn(t, cfg, &sip.Call{ID: "call-1@test", Caller: "+14255550123", Dialed: "+18005550199"})
}

// newCallOn is newCall for the given SIP call.
func newCallOn(t *testing.T, cfg Config, sc *sip.Call) *call {
	t.Helper()
	bot := &botRecorder{got: make(chan *activity.Activity, 64)}
	cfg.Bot = bot
	if cfg.RecordingsDir == "" {
		cfg.RecordingsDir = t.TempDir()
	}
	cfg.PublicURL = "http://127.0.0.1:8080"
	cfg.Logger = slog.New(slog.DiscardHandler)
	g := New(cfg)
	c := &call{g: g, fake: newFakeCall(), bot: bot, sip: sc}
	c.conv = g.open(c.sip, c.fake)
	t.Cleanup(func() { g.CallEnded(c.sip, sip.EndRemoteHangup) })
	if a := bot.next(t); a.Type != activity.TypeConversationUpdate {
		t.Fatalf("first activity %s", a.Type)
	}
	return c
}

// send posts an activity from the bot into the conversation.
func (c *call) send(t *testing.T, a *activity.Activity) string {
	t.Helper()
	a.Conversation = &activity.ConversationAccount{ID: c.conv.id}
	id, err := c.g.Send(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// say has the bot speak a prompt and waits until its audio is queued.
func (c *call) say(t *testing.T, hint string) uint64 {
	t.Helper()
	c.send(t, &activity.Activity{Type: activity.TypeMessage, Text: "press a key", InputHint: hint})
	select {
	case tag := <-c.fake.plays:
		return tag
	case <-time.After(5 * time.Second):
		t.Fatal("the prompt was not played")
		return 0
	}
}
