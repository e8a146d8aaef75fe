package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/bots/recordbot"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/media"
	"github.com/gorilla/websocket"
)

// heardFrame is one binary message a listener got, and when.
type heardFrame struct {
	at  time.Time
	rms float64
}

// TestLiveListen: a supervisor's WebSocket on a live SIPp call (API token
// required) hears the caller's tone within 200 ms of its first packet
// going on the wire (tcpdump's timestamp), hears silence while the bot has
// the recording paused and the tone again once resumed, and is closed with
// "call ended" when SIPp hangs up.
func TestLiveListen(t *testing.T) {
	dir := t.TempDir()
	// SIPp's audio: 1.5 s of silence, then a steady tone until it hangs up.
	pcm := append(make([]int16, 12000), audio.Tone(440, 7*time.Second, 8000, 8000)...)
	if err := writeRTPCapture(filepath.Join(dir, "speech.pcap"), pcm, media.PCMA); err != nil {
		t.Fatal(err)
	}
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--api-token", "tok", "--recording-notice", "none", "--tts", "none", "--stt", "none")
	stopCapture := capture(t, gw)
	done := sippRun(t, gw, dir, filepath.Join("..", "..", "examples", "sipp", "speak.xml"))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	var cd struct{ CallID string }
	json.Unmarshal(up.a.ChannelData, &cd)
	wsURL := "ws" + strings.TrimPrefix(gw.httpURL, "http") + "/calls/" + url.PathEscape(cd.CallID) + "/listen"

	if _, res, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("listen without the token: %v %v, want 401", err, res)
	}
	if _, res, err := websocket.DefaultDialer.Dial(strings.Replace(wsURL, url.PathEscape(cd.CallID), "nope", 1), http.Header{"Authorization": {"Bearer tok"}}); err == nil || res == nil || res.StatusCode != 404 {
		t.Fatalf("listen to an unknown call: %v %v, want 404", err, res)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer tok"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var hdr struct {
		Format     string
		SampleRate int
		FrameMs    int
	}
	if err := ws.ReadJSON(&hdr); err != nil || hdr.Format != "pcm_s16le" || hdr.SampleRate != 8000 || hdr.FrameMs != 20 {
		t.Fatalf("listen header %+v: %v", hdr, err)
	}
	frames := make(chan heardFrame, 1000)
	closed := make(chan string, 1)
	go func() {
		for {
			typ, b, err := ws.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					closed <- ce.Text
				}
				close(frames)
				return
			}
			if typ != websocket.BinaryMessage {
				continue
			}
			sum := 0.0
			for i := 0; i+1 < len(b); i += 2 {
				v := float64(int16(uint16(b[i]) | uint16(b[i+1])<<8))
				sum += v * v
			}
			frames <- heardFrame{time.Now(), math.Sqrt(sum / float64(max(len(b)/2, 1)))}
		}
	}()
	// next returns the first frame for which loud says yes.
	next := func(what string, loud bool) heardFrame {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatalf("listener closed waiting for %s", what)
				}
				if (f.rms > 2000) == loud {
					return f
				}
			case <-deadline:
				t.Fatalf("no %s within 5 s", what)
			}
		}
	}
	first := next("the tone", true)

	conn := recordbot.HTTPConnector{}
	command := func(name string) {
		if _, err := conn.Send(context.Background(), &activity.Activity{Type: activity.TypeCommand, Name: name,
			Conversation: up.a.Conversation, ServiceURL: up.a.ServiceURL}); err != nil {
			t.Fatal(err)
		}
		bot.next(t, activity.TypeCommandResult, 5*time.Second)
	}
	command(activity.CommandRecordingStart)
	command(activity.CommandRecordingPause)
	next("silence while paused", false)
	for range 10 { // it stays silent: the caller's tone goes on
		if f := <-frames; f.rms > 50 {
			t.Fatalf("the listener hears the call (RMS %.0f) while the recording is paused", f.rms)
		}
	}
	command(activity.CommandRecordingResume)
	next("the tone after resume", true)

	select {
	case reason := <-closed:
		if reason != "call ended" {
			t.Fatalf("listener closed with %q", reason)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the listener was not closed when the call ended")
	}
	if r := <-done; r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	var sent time.Time // the tone's first packet on the wire
	for _, f := range rtpFrames(t, gw, stopCapture()) {
		if !f.fromGW && f.rms > 2000 {
			sent = f.at
			break
		}
	}
	lag := first.at.Sub(sent)
	t.Logf("the listener heard the tone %v after its first packet went on the wire", lag)
	if sent.IsZero() || lag > 200*time.Millisecond || lag < 0 {
		t.Fatalf("the listener heard the tone %v after it was sent (at %v), want within 200 ms", lag, sent)
	}
}
