package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/sip"
)

// zeroCrossings is a tone's frequency estimate over s (8 kHz).
func zeroCrossings(s []int) float64 {
	n := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return float64(n) / 2 / (float64(len(s)) / 8000)
}

// TestSIPpSIPREC: SIPp as an SBC forks a call to botline with an RFC 7866
// INVITE (multipart SDP + RFC 7865 metadata, Require: siprec) and sends
// both streams, a 440 Hz tone as the caller and a 1000 Hz tone as the
// agent, and updates the session with a re-INVITE after 3 s. botline
// answers both recvonly, sends no media and plays no notice, and records
// one stereo WAV with the caller's stream left and the
// agent's right, the participants' numbers in its metadata; no bot is
// involved.
func TestSIPpSIPREC(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(binary, "tone-pcap", "-hz", "440,1000", "-d", "8s", "-o", filepath.Join(dir, "siprec.pcap")).CombinedOutput(); err != nil {
		t.Fatalf("tone-pcap: %v\n%s", err, out)
	}
	gw := startGateway(t, "--stt", "none", "--tts", "none", "--default-bot-call-time", "2s")
	if r := <-sippRun(t, gw, dir, filepath.Join("..", "..", "examples", "sipp", "siprec.xml")); r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	if !strings.Contains(gw.log.String(), "recording session re-INVITE") {
		t.Fatal("the SBC's re-INVITE was not taken as a recording session's")
	}
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v, want 1 (a re-INVITE goes on with the same recording)", wavs)
	}
	left, right := readStereo(t, wavs[0])
	d := time.Duration(len(left)) * time.Second / 8000
	if d < 7500*time.Millisecond || d > 9*time.Second {
		t.Fatalf("the recording lasts %v, the session ~8.5 s (the embedded bot's 2 s must not end it)", d)
	}
	mid := func(s []int) []int { return s[len(s)/2-4000 : len(s)/2+4000] }
	if f, r := zeroCrossings(mid(left)), rmsOf(mid(left)); f < 420 || f > 460 || r < 3000 {
		t.Fatalf("left channel: %.0f Hz, RMS %.0f; want the caller's 440 Hz tone", f, r)
	}
	if f, r := zeroCrossings(mid(right)), rmsOf(mid(right)); f < 960 || f > 1040 || r < 3000 {
		t.Fatalf("right channel: %.0f Hz, RMS %.0f; want the agent's 1000 Hz tone", f, r)
	}
	md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	if md.CallerNumber != "+14255550123" || md.DialedNumber != "+18005550199" || len(md.Participants) != 2 ||
		md.Participants[1].ParticipantID != "+18005550199" || md.RecordingInfo.ContentType != string(recorder.LayoutUnmixed) ||
		md.EndReason != recorder.EndSessionEnded {
		t.Fatalf("metadata %+v", md)
	}
	var st sip.Totals
	_, body := gw.request(t, "GET", "/stats", "", "")
	json.Unmarshal(body, &st)
	if st.RTPSent != 0 || st.RTPReceived < 350 {
		t.Fatalf("/stats: sent %d (a recorder sends nothing), received %d", st.RTPSent, st.RTPReceived)
	}
}

// With --siprec-bot the session is the bot's conversation too, from the
// recorded caller, and the bot cannot stop its recording.
func TestSIPpSIPRECWithBot(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(binary, "tone-pcap", "-hz", "440,1000", "-d", "8s", "-o", filepath.Join(dir, "siprec.pcap")).CombinedOutput(); err != nil {
		t.Fatalf("tone-pcap: %v\n%s", err, out)
	}
	bot := startHTTPBot(t)
	gw := startGateway(t, "--stt", "none", "--tts", "none", "--bot-endpoint", bot.url, "--siprec-bot")
	done := sippRun(t, gw, dir, filepath.Join("..", "..", "examples", "sipp", "siprec.xml"))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	if up.a.From.ID != "+14255550123" {
		t.Fatalf("conversationUpdate from %q, want the recorded caller", up.a.From.ID)
	}
	botSay(t, gw, up.a.Conversation.ID, `{"type":"command","name":"channel/vnd.microsoft.telephony.recording.stop","value":{"commandId":"s"}}`)
	res := bot.next(t, activity.TypeCommandResult, 5*time.Second)
	if !strings.Contains(string(res.a.Value), "RecordingPolicyEnforced") {
		t.Fatalf("stop of a SIPREC recording: %s", res.a.Value)
	}
	if r := <-done; r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
}
