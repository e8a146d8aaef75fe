package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/bots/recordbot"
	"github.com/botline/botline/recorder"
)

// webhook is an Event Grid receiver that refuses the first `refuse` posts.
type webhook struct {
	url    string
	events chan recorder.FileReadyEvent
	posts  chan int // status answered, per post
}

func startWebhook(t *testing.T, addr string, refuse int) *webhook {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{url: "http://" + ln.Addr().String() + "/events", events: make(chan recorder.FileReadyEvent, 100), posts: make(chan int, 200)}
	n := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if answerValidation(rw, r) {
			return
		}
		n++
		if n <= refuse {
			rw.WriteHeader(503)
			w.posts <- 503
			return
		}
		var evs []recorder.FileReadyEvent
		if err := json.NewDecoder(r.Body).Decode(&evs); err != nil || len(evs) != 1 {
			rw.WriteHeader(400)
			w.posts <- 400
			return
		}
		w.posts <- 200
		w.events <- evs[0]
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return w
}

// answerValidation answers Event Grid's subscription validation as a
// subscriber does, and reports whether r was one.
func answerValidation(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("aeg-event-type") != "SubscriptionValidation" {
		return false
	}
	var evs []struct {
		EventType string
		Data      struct{ ValidationCode string }
	}
	if err := json.NewDecoder(r.Body).Decode(&evs); err != nil || len(evs) != 1 || evs[0].EventType != "Microsoft.EventGrid.SubscriptionValidationEvent" {
		w.WriteHeader(400)
		return true
	}
	json.NewEncoder(w).Encode(map[string]string{"validationResponse": evs[0].Data.ValidationCode})
	return true
}

func (w *webhook) next(t *testing.T, timeout time.Duration) recorder.FileReadyEvent {
	t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no file-ready event within %v", timeout)
	}
	return recorder.FileReadyEvent{}
}

// recordedCall places a call whose HTTP bot records it for about a second
// and then hangs up; with wantBotEvent it checks the bot got the
// recording.fileReady event activity.
func recordedCall(t *testing.T, gw *gateway, bot *httpBot, wantBotEvent bool) {
	t.Helper()
	ctx, _, call := dial(t, gw, 30*time.Second)
	go call.SendAudio(ctx, make([]int16, 8000*20))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	conn := recordbot.HTTPConnector{}
	send := func(a *activity.Activity) {
		a.Conversation, a.ServiceURL = up.a.Conversation, up.a.ServiceURL
		if _, err := conn.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	send(&activity.Activity{Type: activity.TypeCommand, Name: activity.CommandRecordingStart})
	bot.next(t, activity.TypeCommandResult, 5*time.Second)
	time.Sleep(time.Second) // a second of audio in the recording
	send(&activity.Activity{Type: activity.TypeEndOfConversation})
	select {
	case <-call.Ended():
	case <-ctx.Done():
		t.Fatal("call not hung up")
	}
	call.Close()
	if wantBotEvent {
		ev := bot.next(t, activity.TypeEvent, 5*time.Second)
		var data recorder.FileReadyData
		json.Unmarshal(ev.a.Value, &data)
		if ev.a.Name != "recording.fileReady" || len(data.RecordingStorageInfo.RecordingChunks) != 1 || data.SessionEndReason != recorder.SessionEndCallEnded {
			t.Fatalf("bot's fileReady event %s %s", ev.a.Name, ev.a.Value)
		}
	}
}

// startRecording has the test bot start recording the call it was told of.
func startRecording(t *testing.T, bot *httpBot) received {
	t.Helper()
	up := bot.next(t, activity.TypeConversationUpdate, 15*time.Second)
	if _, err := (recordbot.HTTPConnector{}).Send(context.Background(), &activity.Activity{Type: activity.TypeCommand,
		Name: activity.CommandRecordingStart, Conversation: up.a.Conversation, ServiceURL: up.a.ServiceURL}); err != nil {
		t.Fatal(err)
	}
	return bot.next(t, activity.TypeCommandResult, 5*time.Second)
}

// TestFileReadyWebhook: a SIPp call recorded by the bot; the Event Grid
// event reaches a webhook that refused the first two deliveries, its
// download links work, and the bot gets the same data.
func TestFileReadyWebhook(t *testing.T) {
	hook := startWebhook(t, "127.0.0.1:0", 2)
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--events-url", hook.url)
	sippDone := sippCall(t, gw)
	startRecording(t, bot)
	if r := <-sippDone; r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	botEv := bot.next(t, activity.TypeEvent, 10*time.Second)
	if botEv.a.Name != "recording.fileReady" {
		t.Fatalf("bot event %s", botEv.a.Name)
	}

	ev := hook.next(t, 30*time.Second)
	if got := []int{<-hook.posts, <-hook.posts, <-hook.posts}; got[0] != 503 || got[1] != 503 || got[2] != 200 {
		t.Fatalf("posts answered %v", got)
	}
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v", wavs)
	}
	md := readMetadata(t, wavs[0][:len(wavs[0])-4]+".json")
	chunks := ev.Data.RecordingStorageInfo.RecordingChunks
	if ev.ID != md.RecordingID || ev.EventType != recorder.EventTypeFileReady || ev.Subject != "/recording/call/"+md.CallID ||
		ev.DataVersion != "1.0" || len(chunks) != 1 || chunks[0].DocumentID != md.ChunkDocumentID ||
		ev.Data.SessionEndReason != recorder.SessionEndCallEnded || ev.Data.RecordingDurationMs != md.ChunkDuration {
		t.Fatalf("event %+v\nmetadata %+v", ev, md)
	}
	var botData recorder.FileReadyData
	json.Unmarshal(botEv.a.Value, &botData)
	if botData.RecordingStorageInfo.RecordingChunks[0].DocumentID != chunks[0].DocumentID || botData.SessionEndReason != recorder.SessionEndCallEnded {
		t.Fatalf("bot's data %s differs from the webhook's", botEv.a.Value)
	}
	want, _ := os.ReadFile(wavs[0])
	for url, body := range map[string][]byte{chunks[0].ContentLocation: want} {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("contentLocation %s: %d, %d bytes", url, res.StatusCode, len(got))
		}
	}
	res, err := http.Get(chunks[0].MetadataLocation)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("metadataLocation: %v %v", err, res)
	}
	res.Body.Close()
}

// TestFileReadySurvivesRestart stops the gateway while the webhook is down
// and checks the spooled event is delivered, same id, after a restart.
func TestFileReadySurvivesRestart(t *testing.T) {
	hookAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hookURL := "http://" + hookAddr + "/events"
	bot := startHTTPBot(t)
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gw := startGateway(t, "--bot-endpoint", bot.url, "--events-url", hookURL, "--recordings-dir", dir, "--http-listen", httpAddr)
	recordedCall(t, gw, bot, true)
	gw.stop(t)
	spooled, _ := filepath.Glob(filepath.Join(dir, ".events", "*.json"))
	if len(spooled) != 1 {
		t.Fatalf("spooled events %v", spooled)
	}

	hook := startWebhook(t, hookAddr, 0)
	startGateway(t, "--bot-endpoint", bot.url, "--events-url", hookURL, "--recordings-dir", dir, "--http-listen", httpAddr)
	ev := hook.next(t, 30*time.Second)
	wavs, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	md := readMetadata(t, wavs[0][:len(wavs[0])-4]+".json")
	if ev.ID != md.RecordingID {
		t.Fatalf("event id %s, recording %s", ev.ID, md.RecordingID)
	}
	res, err := http.Get(ev.Data.RecordingStorageInfo.RecordingChunks[0].ContentLocation)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("download after restart: %v %v", err, res)
	}
	res.Body.Close()
}

// TestKill9MidRecording kills the gateway (SIGKILL) while a SIPp call is
// being recorded, restarts it, and checks the recording was repaired: a valid
// WAV holding the audio up to about a second before the kill, metadata
// with endReason ServiceRestarted that verifies, and the file-ready event
// delivered.
func TestKill9MidRecording(t *testing.T) {
	hook := startWebhook(t, "127.0.0.1:0", 0)
	bot := startHTTPBot(t)
	dir := t.TempDir()
	args := []string{"--bot-endpoint", bot.url, "--events-url", hook.url, "--recordings-dir", dir,
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	gw := startGateway(t, args...)
	sippCall(t, gw) // SIPp plays speech; it will fail once the gateway is gone
	started := startRecording(t, bot).at
	time.Sleep(3500 * time.Millisecond) // between two 1 s flushes: the tail is lost
	killed := time.Now()
	gw.kill()
	recorded := killed.Sub(started)

	startGateway(t, args...)
	ev := hook.next(t, 30*time.Second)
	if ev.Data.SessionEndReason != recorder.SessionEndServiceRestarted {
		t.Fatalf("event %+v", ev)
	}
	wavs, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v", wavs)
	}
	w := readWAV(t, wavs[0])
	if w.duration < recorded-1200*time.Millisecond || w.duration > recorded+100*time.Millisecond {
		t.Fatalf("repaired WAV holds %v; recorded %v before the kill", w.duration, recorded)
	}
	t.Logf("recorded %v before SIGKILL, %v survived", recorded, w.duration)
	md := readMetadata(t, wavs[0][:len(wavs[0])-4]+".json")
	if md.EndReason != recorder.EndServiceRestarted || ev.ID != md.RecordingID {
		t.Fatalf("metadata %+v", md)
	}
	if out, err := exec.Command(binary, "verify", dir).CombinedOutput(); err != nil {
		t.Fatalf("verify after repair: %v\n%s", err, out)
	}
}
