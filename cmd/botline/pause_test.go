package main

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/bots/recordbot"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/media"
	"github.com/botline/botline/recorder"
)

// TestSIPpPauseBehavior: a SIPp caller plays a steady tone; the bot
// records, pauses for two seconds and resumes. With skip (the flag's
// default) the paused tone is absent and the file is shorter by the pause;
// with silence (asked for by the pause command) the paused span is
// silence in place and the file lasts as long as the recording ran. Both
// metadata carry the pause interval.
func TestSIPpPauseBehavior(t *testing.T) {
	dir := t.TempDir()
	if err := writeRTPCapture(filepath.Join(dir, "speech.pcap"), audio.Tone(440, 8*time.Second, 8000, 8000), media.PCMA); err != nil {
		t.Fatal(err)
	}
	for _, behavior := range []string{"skip", "silence"} {
		t.Run(behavior, func(t *testing.T) { pauseBehavior(t, dir, behavior) })
	}
}

func pauseBehavior(t *testing.T, pcapDir, behavior string) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--recording-notice", "none", "--tts", "none", "--stt", "none")
	sippDone := sippRun(t, gw, pcapDir, filepath.Join("..", "..", "examples", "sipp", "speak.xml"))
	up := bot.next(t, activity.TypeConversationUpdate, 15*time.Second)
	conn := recordbot.HTTPConnector{}
	command := func(name string, data string) time.Time {
		v, _ := json.Marshal(activity.CommandValue{CommandID: name, Data: json.RawMessage(data)})
		t0 := time.Now()
		if _, err := conn.Send(context.Background(), &activity.Activity{Type: activity.TypeCommand, Name: name, Value: v,
			Conversation: up.a.Conversation, ServiceURL: up.a.ServiceURL}); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if res := bot.next(t, activity.TypeCommandResult, 5*time.Second); strings.Contains(string(res.a.Value), `"error"`) {
			t.Fatalf("%s: %s", name, res.a.Value)
		}
		return t0.Add(t1.Sub(t0) / 2)
	}
	pauseData := `{}`
	if behavior == "silence" {
		pauseData = `{"pauseBehavior":"silence"}`
	}
	time.Sleep(500 * time.Millisecond) // the tone is flowing
	start := command(activity.CommandRecordingStart, `{}`)
	time.Sleep(1500 * time.Millisecond)
	pause := command(activity.CommandRecordingPause, pauseData)
	time.Sleep(2 * time.Second)
	resume := command(activity.CommandRecordingResume, `{}`)
	time.Sleep(1500 * time.Millisecond)
	stop := command(activity.CommandRecordingStop, `{}`)
	if r := <-sippDone; r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}

	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v", wavs)
	}
	w := readWAV(t, wavs[0])
	ran, paused := stop.Sub(start), resume.Sub(pause)
	want := ran - paused
	if behavior == "silence" {
		want = ran
	}
	if d := abs(w.duration - want); d > 150*time.Millisecond {
		t.Fatalf("%s: the file lasts %v, want %v (recording ran %v, paused %v)", behavior, w.duration, want, ran, paused)
	}
	// RMS of the file between two offsets from its start.
	rms := func(from, to time.Duration) float64 {
		a, b := int(from.Seconds()*8000), int(to.Seconds()*8000)
		b = min(b, len(w.samples))
		sum := 0.0
		for _, s := range w.samples[a:b] {
			sum += float64(s) * float64(s)
		}
		return math.Sqrt(sum / float64(max(b-a, 1)))
	}
	at := pause.Sub(start) // where the pause begins in the file
	if before := rms(at-time.Second, at-200*time.Millisecond); before < 3000 {
		t.Fatalf("the tone before the pause: RMS %.0f", before)
	}
	if behavior == "silence" {
		if during := rms(at+200*time.Millisecond, at+paused-200*time.Millisecond); during > 50 {
			t.Fatalf("the paused span holds sound: RMS %.0f", during)
		}
		if after := rms(at+paused+200*time.Millisecond, at+paused+time.Second); after < 3000 {
			t.Fatalf("the tone after the pause: RMS %.0f", after)
		}
	} else if rest := rms(at+200*time.Millisecond, w.duration-200*time.Millisecond); rest < 3000 {
		// Skipped: the tone resumes right where the pause began.
		t.Fatalf("the tone after the skipped pause: RMS %.0f", rest)
	}
	md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	wantTag := map[string]string{"skip": "", "silence": "silence"}[behavior]
	if len(md.PauseResumeIntervals) != 1 || md.PauseResumeIntervals[0].PauseBehavior != wantTag ||
		abs(time.Duration(md.PauseResumeIntervals[0].Duration)*time.Millisecond-paused) > 100*time.Millisecond ||
		md.EndReason != recorder.EndSessionEnded {
		t.Fatalf("metadata %+v, paused %v", md.PauseResumeIntervals, paused)
	}
}
