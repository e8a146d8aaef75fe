package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/pcap"
	"github.com/botline/botline/media"
	"github.com/botline/botline/recorder"
	"github.com/go-audio/wav"
	"github.com/pion/rtp"
)

// capture records the UDP packets of the gateway's RTP ports (both
// directions) with tcpdump on the loopback interface; stop ends it and
// returns them.
func capture(t *testing.T, gw *gateway) (stop func() []pcap.Packet) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump not installed: run `make test`, which installs it")
	}
	file := filepath.Join(t.TempDir(), "rtp.pcap")
	cmd := exec.Command("tcpdump", "-i", "lo", "-U", "-n", "-s", "256", "-w", file,
		fmt.Sprintf("udp and portrange %d-%d", gw.rtpLo, gw.rtpHi))
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "listening on") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("tcpdump did not start: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return func() []pcap.Packet {
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ps, err := pcap.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
}

// rtpFrame is one captured RTP packet with the loudness of its audio.
type rtpFrame struct {
	at      time.Time
	fromGW  bool
	pt      uint8
	rms     float64
	payload []byte
}

// rtpFrames decodes the captured RTP; the gateway's audio is G.711 of the
// codec SIPp offered (PCMA).
func rtpFrames(t *testing.T, gw *gateway, ps []pcap.Packet) []rtpFrame {
	t.Helper()
	var out []rtpFrame
	pcm := make([]int16, 480)
	for _, p := range ps {
		var pkt rtp.Packet
		if pkt.Unmarshal(p.Payload) != nil {
			continue
		}
		f := rtpFrame{at: p.Time, fromGW: int(p.Src.Port()) >= gw.rtpLo && int(p.Src.Port()) <= gw.rtpHi, pt: pkt.PayloadType, payload: pkt.Payload}
		if pkt.PayloadType == 8 && len(pkt.Payload) <= len(pcm) {
			media.PCMA.Decode(pcm, pkt.Payload)
			var sum float64
			for _, s := range pcm[:len(pkt.Payload)] {
				sum += float64(s) * float64(s)
			}
			f.rms = math.Sqrt(sum / float64(max(1, len(pkt.Payload))))
		}
		out = append(out, f)
	}
	return out
}

// botSay sends a message from the bot into the conversation through the
// Connector API, as a bot would.
func botSay(t *testing.T, gw *gateway, convID, activityJSON string) {
	t.Helper()
	code, body := post(t, gw.httpURL+"/v3/conversations/"+convID+"/activities", activityJSON)
	if code != 200 {
		t.Fatalf("connector answered %d %s", code, body)
	}
}

const longPrompt = `Welcome to the botline test line. This prompt is long on purpose: it goes on
and on about nothing in particular, so that a caller has every reason to press a key
before it ends. Please listen carefully, as our menu options have changed. For billing,
press one. For support, press two. For everything else, stay on the line and keep listening
to this very long and rather boring announcement.`

// SIPp presses keys from the RFC 4733 captures sip-tester ships while a
// long prompt plays: each key is one message with a DTMF entity, in order,
// and the first key stops the prompt within 300 ms (measured on the wire).
func TestSIPpKeysBargeIn(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--stt", "none")
	stop := capture(t, gw)
	done := sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "dtmf.xml"))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	conv := up.a.Conversation.ID
	botSay(t, gw, conv, fmt.Sprintf(`{"type":"message","text":%q,"inputHint":"expectingInput"}`, strings.Join(strings.Fields(longPrompt), " ")))
	for _, want := range "1234567890*#" {
		r := bot.next(t, activity.TypeMessage, 15*time.Second)
		if r.a.Text != string(want) || !r.a.HasEntity(activity.EntityDTMF) || len(r.a.Entities) != 1 {
			t.Fatalf("message %q entities %s, want key %q with one DTMF entity", r.a.Text, r.a.Entities, want)
		}
		if r.a.Conversation.ID != conv || r.a.From.ID != "+14255550123" {
			t.Errorf("key message in conversation %s from %s", r.a.Conversation.ID, r.a.From.ID)
		}
	}
	if r := <-done; r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	select {
	case r := <-bot.in:
		if r.a.Type == activity.TypeMessage {
			t.Errorf("an extra message %q: a held key or its end packets counted twice", r.a.Text)
		}
	default:
	}
	frames := rtpFrames(t, gw, stop())
	var firstKey time.Time
	for _, f := range frames {
		if !f.fromGW && f.pt == 101 {
			firstKey = f.at
			break
		}
	}
	if firstKey.IsZero() {
		t.Fatal("no RFC 4733 packet in the capture")
	}
	var loudBefore int
	var lastLoud time.Time
	for _, f := range frames {
		if !f.fromGW || f.rms < 200 {
			continue
		}
		if f.at.Before(firstKey) && f.at.After(firstKey.Add(-time.Second)) {
			loudBefore++
		}
		lastLoud = f.at
	}
	if loudBefore < 25 {
		t.Fatalf("the prompt was not playing when the first key came (%d loud packets in the second before)", loudBefore)
	}
	stopAfter := lastLoud.Sub(firstKey)
	t.Logf("prompt stopped %v after the first key's first packet", stopAfter.Round(time.Millisecond))
	if stopAfter > 300*time.Millisecond {
		t.Errorf("the prompt went on %v after the first key, want < 300 ms", stopAfter)
	}
}

// A caller says a sentence (flite's voice into a capture by `botline
// say-pcap`, played by SIPp): the bot gets the words, its spoken answer
// reaches SIPp as non-silent RTP, and the recording holds both sides.
func TestSIPpSpeechRecognizedAndAnswered(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary, "say-pcap", "-o", filepath.Join(dir, "speech.pcap"), "I would like to check my account balance").CombinedOutput()
	if err != nil {
		t.Fatalf("say-pcap: %v: %s", err, out)
	}
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--recording-channel-type", "unmixed", "--recording-notice", "none")
	stop := capture(t, gw)
	done := sippRun(t, gw, dir, filepath.Join("..", "..", "examples", "sipp", "speak.xml"))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	conv := up.a.Conversation.ID
	botSay(t, gw, conv, `{"type":"command","name":"channel/vnd.microsoft.telephony.recording.start","value":{"commandId":"r1"}}`)
	msg := bot.next(t, activity.TypeMessage, 20*time.Second)
	if msg.a.Text != "i would like to check my account balance" || len(msg.a.Entities) != 0 {
		t.Fatalf("recognized %q (entities %s), want %q", msg.a.Text, msg.a.Entities, "i would like to check my account balance")
	}
	replyAt := time.Now()
	botSay(t, gw, conv, `{"type":"message","text":"Your balance is 42 dollars.",
		"speak":"<speak>Your balance is <break time=\"200ms\"/> <prosody rate=\"slow\">forty two dollars</prosody>.</speak>"}`)
	if r := <-done; r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	var fileReady *received // it may come before endOfConversation
	for ended := false; !ended; {
		select {
		case r := <-bot.in:
			switch {
			case r.a.Type == activity.TypeEndOfConversation:
				ended = true
			case r.a.Type == activity.TypeEvent && r.a.Name == "recording.fileReady":
				fileReady = &r
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no endOfConversation")
		}
	}
	frames := rtpFrames(t, gw, stop())
	var heard int
	for _, f := range frames {
		if f.fromGW && f.rms > 200 && f.at.After(replyAt) {
			heard++
		}
	}
	t.Logf("SIPp received %d non-silent packets of the reply", heard)
	if heard < 50 {
		t.Errorf("SIPp received %d non-silent packets after the reply, want >= 50 (1 s of speech)", heard)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v, want 1", wavs)
	}
	left, right := readStereo(t, wavs[0])
	callerLoud, botLoud := loudTime(left), loudTime(right)
	t.Logf("recording: caller loud %v, bot loud %v", callerLoud, botLoud)
	if callerLoud < time.Second {
		t.Errorf("the caller's sentence is not in the recording (loud %v)", callerLoud)
	}
	if botLoud < time.Second {
		t.Errorf("the bot's answer is not in the recording (loud %v)", botLoud)
	}

	// The transcript: both sides, at the offsets where the recording
	// holds them, announced in the file-ready event and downloadable.
	if fileReady == nil {
		r := bot.next(t, activity.TypeEvent, 10*time.Second)
		fileReady = &r
	}
	ev := *fileReady
	var data recorder.FileReadyData
	json.Unmarshal(ev.a.Value, &data)
	if data.TranscriptLocation == "" {
		t.Fatalf("file-ready event without transcriptLocation: %s", ev.a.Value)
	}
	res, err := http.Get(data.TranscriptLocation)
	if err != nil {
		t.Fatal(err)
	}
	var tr recorder.Transcript
	err = json.NewDecoder(res.Body).Decode(&tr)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(tr.Utterances) != 2 {
		t.Fatalf("transcript: %d %v %+v", res.StatusCode, err, tr)
	}
	// onset is where a channel first stays loud for 100 ms after from.
	onset := func(s []int, from time.Duration) time.Duration {
		for i := int(from.Seconds() * 8000); i+800 <= len(s); i += 160 {
			if rmsOf(s[i:i+800]) > 200 {
				return time.Duration(i) * time.Second / 8000
			}
		}
		return -1
	}
	caller, said := tr.Utterances[0], tr.Utterances[1]
	callerAt, botAt := onset(left, 0), onset(right, 0)
	t.Logf("transcript %+v; the recording's caller starts at %v, bot at %v", tr.Utterances, callerAt, botAt)
	if caller.Side != recorder.SideCaller || caller.Text != "i would like to check my account balance" ||
		abs(time.Duration(caller.OffsetMs)*time.Millisecond-callerAt) > 400*time.Millisecond || caller.DurationMs < 1000 {
		t.Errorf("caller's line %+v; the recording's caller starts at %v", caller, callerAt)
	}
	if said.Side != recorder.SideBot || said.Text != "Your balance is 42 dollars." ||
		abs(time.Duration(said.OffsetMs)*time.Millisecond-botAt) > 300*time.Millisecond || said.DurationMs < 1000 {
		t.Errorf("bot's line %+v; the recording's bot starts at %v", said, botAt)
	}
}

// readStereo reads an unmixed recording: caller left, bot right.
func readStereo(t *testing.T, path string) (left, right []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := wav.NewDecoder(bytes.NewReader(b))
	buf, err := d.FullPCMBuffer()
	if err != nil || d.NumChans != 2 {
		t.Fatalf("%s: %v, %d channels", path, err, d.NumChans)
	}
	for i := 0; i+1 < len(buf.Data); i += 2 {
		left = append(left, buf.Data[i])
		right = append(right, buf.Data[i+1])
	}
	return left, right
}

// loudTime is how much of the audio is in 20 ms windows louder than RMS 200.
func loudTime(s []int) time.Duration {
	var n int
	for i := 0; i+160 <= len(s); i += 160 {
		if rmsOf(s[i:i+160]) > 200 {
			n++
		}
	}
	return time.Duration(n) * 20 * time.Millisecond
}
func TestSilenceAndIgnoredInput(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--stt", "none", "--silence-timeout", "1s")
	ctx, _, call := dial(t, gw, 60*time.Second)
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	conv := up.a.Conversation.ID
	botSay(t, gw, conv, `{"type":"message","text":"Hello.","inputHint":"expectingInput"}`)
	ev := bot.next(t, activity.TypeEvent, 10*time.Second)
	if ev.a.Name != "silence" || string(ev.a.Value) != `{"timeoutMs":1000}` {
		t.Fatalf("event %s %s, want silence {\"timeoutMs\":1000}", ev.a.Name, ev.a.Value)
	}
	if call.LoudPackets() < 10 {
		t.Fatalf("the caller heard %d loud packets of the prompt", call.LoudPackets())
	}

	botSay(t, gw, conv, fmt.Sprintf(`{"type":"message","text":%q,"inputHint":"ignoringInput"}`, "Please listen to this whole announcement, which you cannot skip, about our terms of service."))
	deadline := time.Now().Add(10 * time.Second)
	start := call.LoudPackets()
	for call.LoudPackets() < start+25 { // the announcement is playing
		if time.Now().After(deadline) {
			t.Fatal("the announcement never played")
		}
		time.Sleep(10 * time.Millisecond)
	}
	call.QueueDTMF("5")
	if err := call.SendAudio(ctx, make([]int16, 4000)); err != nil { // the key, then 0.5 s
		t.Fatal(err)
	}
	atKey := call.LoudPackets()
	for call.LoudPackets() < atKey+50 { // 1 s more of it: not cut short
		if time.Now().After(deadline) {
			t.Fatalf("the announcement stopped after an ignored key (%d loud packets since)", call.LoudPackets()-atKey)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An ignoringInput prompt arms no silence timer (the bot is not asking);
	// the prompt queued after it does, once both have played.
	botSay(t, gw, conv, `{"type":"message","text":"Press seven.","inputHint":"expectingInput"}`)
	if ev := bot.next(t, activity.TypeEvent, 20*time.Second); ev.a.Name != "silence" {
		t.Fatalf("event %s", ev.a.Name)
	}
	call.QueueDTMF("7")
	if err := call.SendAudio(ctx, make([]int16, 2400)); err != nil {
		t.Fatal(err)
	}
	msg := bot.next(t, activity.TypeMessage, 10*time.Second)
	if msg.a.Text != "7" {
		t.Fatalf("first key message %q, want 7 (the 5 was pressed during an ignoringInput prompt)", msg.a.Text)
	}
	if !strings.Contains(gw.log.String(), "key ignored during prompt") {
		t.Error("no log of the ignored key")
	}
}

// A bot message carrying a DTMF entity is sent to the caller as RFC 4733
// keys, not spoken.
func TestBotSendsKeys(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--stt", "none")
	_, _, call := dial(t, gw, 30*time.Second)
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	botSay(t, gw, up.a.Conversation.ID, `{"type":"message","text":"12#9","entities":[{"type":"DTMF"}]}`)
	deadline := time.Now().Add(10 * time.Second)
	for call.Keys() != "12#9" {
		if time.Now().After(deadline) {
			t.Fatalf("caller got keys %q, want 12#9", call.Keys())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := call.LoudPackets(); n > 0 {
		t.Errorf("the keys were also spoken: %d loud audio packets", n)
	}
}
