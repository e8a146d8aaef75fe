package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionDeletesExpiredRecordings runs the binary with a 2 s
// retention: a finished recording's audio and metadata disappear, and the
// deletion is logged.
func TestRetentionDeletesExpiredRecordings(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--retention", "2s")
	recordedCall(t, gw, bot, false)
	gw.waitIdle(t)
	if wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(wavs) != 1 {
		t.Fatalf("recordings right after the call: %v", wavs)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var files []string // recordings, manifests, transcripts; not the gateway's own .auth
		all, _ := filepath.Glob(filepath.Join(gw.dir, "*.*"))
		for _, f := range all {
			if !strings.HasPrefix(filepath.Base(f), ".") {
				files = append(files, f)
			}
		}
		if len(files) == 0 && strings.Contains(gw.log.String(), "retention: recording deleted") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("files left after the retention time: %v", files)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
