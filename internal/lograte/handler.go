package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// MaxValue is the longest string value a line keeps; the rest is cut and
// its length said.
const MaxValue = 512

// Handler passes each message at most Burst times at once and PerSecond
// times a second on average to the handler it wraps.
type Handler struct {
	next      slog.Handler
	perSecond float64
	burst     float64
	state     *state // shared by the handlers WithAttrs and WithGroup make
}

type state struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens     float64
	last       time.Time
	suppressed uint64
}

// maxMessages bounds the messages tracked: past it the table starts over.
const maxMessages = 4096

// New wraps next.
func New(next slog.Handler, perSecond float64, burst int) *Handler {
	return &Handler{next: next, perSecond: perSecond, burst: float64(burst), state: &state{buckets: map[string]*bucket{}}}
}

// Enabled is the wrapped handler's.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle passes r on when its message has a token left.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	suppressed, ok := h.take(r.Message, r.Time)
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(cut(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Uint64("suppressed", suppressed))
	}
	return h.next.Handle(ctx, out)
}

// take spends one of msg's tokens; it reports how many lines were
// suppressed since the last that passed.
func (h *Handler) take(msg string, now time.Time) (suppressed uint64, ok bool) {
	if now.IsZero() {
		now = time.Now()
	}
	s := h.state
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[msg]
	if b == nil {
		if len(s.buckets) >= maxMessages {
			clear(s.buckets)
		}
		b = &bucket{tokens: h.burst, last: now}
		s.buckets[msg] = b
	}
	b.tokens = min(h.burst, b.tokens+now.Sub(b.last).Seconds()*h.perSecond)
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return 0, false
	}
	b.tokens--
	suppressed, b.suppressed = b.suppressed, 0
	return suppressed, true
}

// cut shortens a long string value (a datagram's junk, say).
func cut(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > MaxValue {
			return slog.String(a.Key, s[:MaxValue]+"...("+itoa(len(s))+" bytes)")
		}
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, x := range as {
			out[i] = cut(x)
		}
		return slog.Group(a.Key, out...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// WithAttrs shares the rates.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	cuts := make([]slog.Attr, len(as))
	for i, a := range as {
		cuts[i] = cut(a)
	}
	return &Handler{next: h.next.WithAttrs(cuts), perSecond: h.perSecond, burst: h.burst, state: h.state}
}

// WithGroup shares the rates.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), perSecond: h.perSecond, burst: h.burst, state: h.state}
}
