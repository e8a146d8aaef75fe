package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The sample IVR bot, embedded, driven by SIPp's key presses: 1 (balance),
// 2 (card number: the recording pauses), 3..9 0 * (the number), # (the
// recording resumes). The recording is one file with one pause spanning the
// card number, and holds the bot's prompts.
func TestIVRSampleBot(t *testing.T) {
	gw := startGateway(t, "--default-bot", "ivr", "--stt", "none", "--recording-notice", "none")
	checkIVRCall(t, gw)
}

// The botbuilder-js twin of the IVR sample (bots/ivr-js), over the
// streaming transport, behaves the same.
func TestIVRSampleBotJS(t *testing.T) {
	botDir, _ := filepath.Abs(filepath.Join("..", "..", "bots", "ivr-js"))
	if _, err := os.Stat(filepath.Join(botDir, "node_modules", "botbuilder")); err != nil {
		t.Fatalf("botbuilder is not installed in %s: run `make test`, which runs npm ci there", botDir)
	}
	port := freePort(t)
	bot := exec.Command("node", "index.js")
	bot.Dir = botDir
	bot.Env = append(os.Environ(), fmt.Sprintf("BOT_PORT=%d", port))
	var out syncBuffer
	bot.Stdout, bot.Stderr = &out, &out
	if err := bot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bot.Process.Kill(); bot.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), `"listening"`) {
		if time.Now().After(deadline) {
			t.Fatalf("bot did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	gw := startGateway(t, "--bot-endpoint", fmt.Sprintf("http://127.0.0.1:%d/api/messages", port), "--bot-transport", "streaming",
		"--stt", "none", "--recording-notice", "none")
	checkIVRCall(t, gw)
	if strings.Contains(out.String(), "turn error") {
		t.Errorf("bot errors: %s", out.String())
	}
	if !strings.Contains(out.String(), "recordingReady") {
		t.Errorf("the bot never got recording.fileReady: %s", out.String())
	}
}

// checkIVRCall runs SIPp's key presses against an IVR sample bot and checks
// the recording.
func checkIVRCall(t *testing.T, gw *gateway) {
	t.Helper()
	if r := <-sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "dtmf.xml")); r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v, want 1", wavs)
	}
	md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	if len(md.PauseResumeIntervals) != 1 {
		t.Fatalf("pause intervals %+v, want the card number's", md.PauseResumeIntervals)
	}
	if d := time.Duration(md.PauseResumeIntervals[0].Duration) * time.Millisecond; d < 4*time.Second || d > 7*time.Second {
		t.Errorf("paused %v, want ~5.4 s (keys 2 to #)", d)
	}
	w := readWAV(t, wavs[0])
	if loud := loudTime(w.samples); loud < 2*time.Second {
		t.Errorf("the bot's prompts are not in the recording (loud %v)", loud)
	}
	log := gw.log.String()
	if strings.Count(log, "msg=barge-in") < 2 {
		t.Errorf("keys did not barge in on the prompts")
	}
	if strings.Contains(log, "3456789") {
		t.Errorf("the card number is in the gateway's log")
	}
}

// After a prompt the bot gets `silence` when the caller says and presses
// nothing for --silence-timeout; a key during an ignoringInput prompt
// neither stops it nor reaches the bot, a key after it does.
