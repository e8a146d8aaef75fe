package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/bots/recordbot"
	"github.com/botline/botline/recorder"
	"github.com/go-audio/wav"
)

// TestSIPpCallWithPauseResume drives a full call from SIPp (the example
// scenario, playing a speech pcap and hanging up) into the built binary,
// with an HTTP bot that starts recording, pauses it for a second and
// resumes. The WAV must be valid, hold the caller's audio, and last the
// recorded time minus the paused time.
func TestSIPpCallWithPauseResume(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url)
	sippDone := sippCall(t, gw)

	up := bot.next(t, activity.TypeConversationUpdate, 15*time.Second)
	conv := up.a.Conversation
	var cd struct{ CallID string }
	json.Unmarshal(up.a.ChannelData, &cd)
	if up.a.From.ID != "+14255550123" || up.a.Recipient.Name != "+18005550199" || cd.CallID == "" {
		t.Fatalf("conversationUpdate %+v", up.a)
	}
	conn := recordbot.HTTPConnector{}
	ctx := context.Background()
	// command sends a recording command and returns when the channel
	// applied it: the midpoint of the Connector POST.
	command := func(name, id string) time.Time {
		v, _ := json.Marshal(activity.CommandValue{CommandID: id})
		t0 := time.Now()
		if _, err := conn.Send(ctx, &activity.Activity{Type: activity.TypeCommand, Name: name, Value: v,
			Conversation: conv, ServiceURL: up.a.ServiceURL}); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		res := bot.next(t, activity.TypeCommandResult, 5*time.Second)
		var rv activity.CommandResultValue
		json.Unmarshal(res.a.Value, &rv)
		if res.a.Name != name || rv.CommandID != id || rv.Error != nil {
			t.Fatalf("commandResult %s %s", res.a.Name, res.a.Value)
		}
		return t0.Add(t1.Sub(t0) / 2)
	}
	start := command(activity.CommandRecordingStart, "s1")
	time.Sleep(2 * time.Second)
	pause := command(activity.CommandRecordingPause, "p1")
	time.Sleep(time.Second)
	resume := command(activity.CommandRecordingResume, "r1")

	// Bad input on the Connector API during the call.
	if code, body := post(t, gw.httpURL+"/v3/conversations/"+conv.ID+"/activities", "{not json"); code != 400 || !strings.Contains(body, `"code":"BadArgument"`) {
		t.Fatalf("invalid JSON: %d %s", code, body)
	}
	if code, body := post(t, gw.httpURL+"/v3/conversations/nope/activities", `{"type":"message","text":"hi"}`); code != 404 || !strings.Contains(body, `"error":{"code":"ConversationNotFound"`) {
		t.Fatalf("unknown conversation: %d %s", code, body)
	}

	eoc := bot.next(t, activity.TypeEndOfConversation, 30*time.Second)
	if r := <-sippDone; r.err != nil {
		t.Fatalf("sipp call failed: %v\n%s", r.err, r.out)
	}
	if eoc.a.Code != activity.EndCompletedSuccessfully {
		t.Fatalf("endOfConversation %+v", eoc.a)
	}

	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v, want one file", wavs)
	}
	w := readWAV(t, wavs[0])
	want := eoc.at.Sub(start) - resume.Sub(pause)
	t.Logf("WAV %v; recorded %v minus paused %v = %v", w.duration, eoc.at.Sub(start), resume.Sub(pause), want)
	if d := abs(w.duration - want); d > 300*time.Millisecond {
		t.Fatalf("WAV lasts %v, recorded minus paused time is %v", w.duration, want)
	}
	if r := rmsOf(w.samples); r < 500 {
		t.Fatalf("recording is near silent (RMS %.0f): the caller's audio is missing", r)
	}
	md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	if md.CallID != cd.CallID || md.ConversationID != conv.ID || md.EndReason != recorder.EndSessionEnded {
		t.Fatalf("metadata ids %+v", md)
	}
	if abs(time.Duration(md.ChunkDuration)*time.Millisecond-w.duration) > 20*time.Millisecond {
		t.Fatalf("metadata chunkDuration %v ms, file %v", md.ChunkDuration, w.duration)
	}
	// The recordings API serves the same bytes, and the file verifies.
	wavBytes, _ := os.ReadFile(wavs[0])
	res, err := http.Get(gw.httpURL + "/recording/download/" + md.ChunkDocumentID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "audio/wav" || !bytes.Equal(got, wavBytes) {
		t.Fatalf("download: %d %s, %d bytes of %d", res.StatusCode, res.Header.Get("Content-Type"), len(got), len(wavBytes))
	}
	if md.CallerNumber != "+14255550123" || md.DialedNumber != "+18005550199" || md.Direction != "inbound" || md.Sha256 == "" {
		t.Fatalf("metadata search fields %+v", md)
	}
	if out, err := exec.Command(binary, "verify", gw.dir).CombinedOutput(); err != nil {
		t.Fatalf("botline verify: %v\n%s", err, out)
	}
	if len(md.PauseResumeIntervals) != 1 || abs(time.Duration(md.PauseResumeIntervals[0].Duration)*time.Millisecond-resume.Sub(pause)) > 100*time.Millisecond {
		t.Fatalf("pause intervals %+v, paused %v", md.PauseResumeIntervals, resume.Sub(pause))
	}
}

// TestSIPpUnmixedStereo records a SIPp call unmixed at 16 kHz (chosen by
// the start command's value.data): the caller's speech is on the left, the
// gateway's side on the right: the recording notice (two beeps, 0.4 s)
// at the start, then silence.
func TestSIPpUnmixedStereo(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--recording-sample-rate", "16000")
	sippDone := sippCall(t, gw)
	up := bot.next(t, activity.TypeConversationUpdate, 15*time.Second)
	v := json.RawMessage(`{"commandId":"st","data":{"recordingChannelType":"unmixed"}}`)
	if _, err := (recordbot.HTTPConnector{}).Send(context.Background(), &activity.Activity{Type: activity.TypeCommand,
		Name: activity.CommandRecordingStart, Value: v, Conversation: up.a.Conversation, ServiceURL: up.a.ServiceURL}); err != nil {
		t.Fatal(err)
	}
	bot.next(t, activity.TypeEndOfConversation, 30*time.Second)
	if r := <-sippDone; r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v", wavs)
	}
	f, _ := os.Open(wavs[0])
	defer f.Close()
	d := wav.NewDecoder(f)
	buf, err := d.FullPCMBuffer()
	if err != nil || d.SampleRate != 16000 || d.NumChans != 2 {
		t.Fatalf("format %d Hz %d ch: %v", d.SampleRate, d.NumChans, err)
	}
	var left, right []int
	for i := 0; i+1 < len(buf.Data); i += 2 {
		left, right = append(left, buf.Data[i]), append(right, buf.Data[i+1])
	}
	notice, after := right[:16000*4/10], right[16000:]
	if l, n, a := rmsOf(left), rmsOf(notice), rmsOf(after); l < 500 || n < 2000 || a != 0 {
		t.Fatalf("left RMS %.0f (caller's speech), right: notice RMS %.0f, then %.0f (silence): wrong sides", l, n, a)
	}
	md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	if md.RecordingInfo.ContentType != "unmixed" || md.RecordingInfo.AudioConfiguration.SampleRate != "16000" {
		t.Fatalf("metadata %+v", md.RecordingInfo)
	}
}

// TestSIPpChunkRollover records an 8 s SIPp call with 2 s chunks (embedded
// bot): the file-ready event lists the chunks in order, all but the last
// closed by the bound, and every chunk downloads as a valid WAV; together
// they hold the whole call.
func TestSIPpChunkRollover(t *testing.T) {
	hook := startWebhook(t, "127.0.0.1:0", 0)
	gw := startGateway(t, "--default-bot-call-time", "0", "--recording-chunk-max", "2s", "--events-url", hook.url)
	if r := <-sippCall(t, gw); r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	ev := hook.next(t, 15*time.Second)
	chunks := ev.Data.RecordingStorageInfo.RecordingChunks
	if len(chunks) < 4 || len(chunks) > 5 {
		t.Fatalf("%d chunks for an 8 s call with 2 s chunks", len(chunks))
	}
	var total time.Duration
	for i, c := range chunks {
		wantEnd := "ChunkMaximumSizeExceeded"
		if i == len(chunks)-1 {
			wantEnd = recorder.EndSessionEnded
		}
		if c.Index != i || c.EndReason != wantEnd {
			t.Fatalf("chunk %d: %+v", i, c)
		}
		res, err := http.Get(c.ContentLocation)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		path := filepath.Join(t.TempDir(), "chunk.wav")
		os.WriteFile(path, b, 0o644)
		if res.StatusCode != 200 {
			t.Fatalf("chunk %d download: %d", i, res.StatusCode)
		}
		w := readWAV(t, path)
		if i < len(chunks)-1 && w.duration != 2*time.Second {
			t.Fatalf("chunk %d lasts %v, want 2s", i, w.duration)
		}
		total += w.duration
	}
	if d := abs(total - time.Duration(ev.Data.RecordingDurationMs)*time.Millisecond); d > 20*time.Millisecond || abs(total-8*time.Second) > 300*time.Millisecond {
		t.Fatalf("chunks hold %v, event says %v ms, call lasted ~8 s", total, ev.Data.RecordingDurationMs)
	}
	if out, err := exec.Command(binary, "verify", gw.dir).CombinedOutput(); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// A SIPp delayed-offer call (INVITE without SDP, the answer in the ACK, as
// Cisco CUBE and Avaya trunks send) is answered with our offer and
// recorded like any other: the recording holds SIPp's ~7 s of PCMA speech.
func TestSIPpDelayedOffer(t *testing.T) {
	gw := startGateway(t, "--stt", "none", "--tts", "none", "--recording-notice", "none")
	if r := <-sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "delayed-offer.xml")); r.err != nil {
		t.Fatalf("SIPp delayed-offer call: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	if !strings.Contains(gw.log.String(), "codec=PCMA") {
		t.Fatal("the call did not take the ACK's answer (PCMA)")
	}
	rec, md := onlyRecording(t, gw)
	if d := time.Duration(len(rec)) * time.Second / 8000; d < 6*time.Second || rmsInt16(rec) < 300 {
		t.Fatalf("recording %s long, RMS %.0f; want SIPp's ~7 s of speech", d, rmsInt16(rec))
	}
	// The call's quality is in the metadata: SIPp's ~230 packets, none
	// lost on loopback, so the E-model's clean-line MOS.
	var q recorder.CallQuality
	b, _ := json.Marshal(md["callQuality"])
	if err := json.Unmarshal(b, &q); err != nil || q.Received.Packets < 200 || q.Received.Lost != 0 || q.Sent.Packets < 300 || q.MOS == nil || *q.MOS < 4.3 {
		t.Fatalf("callQuality %s, want ~230 received, ~400 sent, MOS ~4.4", b)
	}
}
