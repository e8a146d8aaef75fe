package lograte

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A flood of one message passes its burst, then its rate; other messages
// are not held up by it; the next line that passes says how many were
// suppressed; long values are cut.
func TestFloodIsBounded(t *testing.T) {
	var buf bytes.Buffer
	h := New(slog.NewTextHandler(&buf, nil), 1, 5)
	log := slog.New(h).With("caller", "test")
	junk := strings.Repeat("x", 60000)
	for range 1000 {
		log.Error("failed to parse", "data", junk)
	}
	log.Info("call answered")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 6 || !strings.Contains(lines[5], "call answered") {
		t.Fatalf("%d lines, want the burst of 5 and the other message", len(lines))
	}
	if buf.Len() > 5*(MaxValue+200)+200 {
		t.Fatalf("%d bytes of log for 1000 lines of 60 KB", buf.Len())
	}
	if !strings.Contains(lines[0], "(60000 bytes)") {
		t.Fatalf("a cut value does not say its length: %.200s", lines[0])
	}
	buf.Reset()
	later := slog.NewRecord(time.Now().Add(1100*time.Millisecond), slog.LevelError, "failed to parse", 0) // a token is back
	h.Handle(context.Background(), later)
	if !strings.Contains(buf.String(), "suppressed=995") {
		t.Fatalf("the next line says %q, want suppressed=995", buf.String())
	}
}
