package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
)

// TestRecordingsAPI drives out-of-call recording control over HTTP during a
// real call: token, every route, the state table's conflicts with the
// commands' exact messages, and the bot told of each change.
func TestRecordingsAPI(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--api-token", "tok")
	ctx, _, call := dial(t, gw, 30*time.Second)
	go call.SendAudio(ctx, make([]int16, 8000*20))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	var cd struct{ CallID string }
	json.Unmarshal(up.a.ChannelData, &cd)

	do := func(method, path, body, token string) (int, map[string]any) {
		t.Helper()
		code, b := gw.request(t, method, path, body, token)
		var m map[string]any
		json.Unmarshal(b, &m)
		return code, m
	}
	errOf := func(m map[string]any) (string, string) {
		e, _ := m["error"].(map[string]any)
		c, _ := e["code"].(string)
		msg, _ := e["message"].(string)
		return c, msg
	}
	stateChanged := func(want string) {
		t.Helper()
		ev := bot.next(t, activity.TypeEvent, 5*time.Second)
		var v struct{ RecordingState string }
		json.Unmarshal(ev.a.Value, &v)
		if ev.a.Name != "recording.stateChanged" || v.RecordingState != want {
			t.Fatalf("bot event %s %s, want state %s", ev.a.Name, ev.a.Value, want)
		}
	}
	start := `{"serverCallId":"` + cd.CallID + `"}`

	if code, _ := do("POST", "/calling/recordings", start, ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := do("POST", "/calling/recordings", start, "wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, m := do("POST", "/calling/recordings", `{"serverCallId":"nope"}`, "tok"); code != 404 {
		t.Fatalf("unknown call: %d %v", code, m)
	}
	if code, _ := do("POST", "/calling/recordings", `{bad json`, "tok"); code != 400 {
		t.Fatalf("bad body: %d", code)
	}
	code, m := do("POST", "/calling/recordings", start, "tok")
	id, _ := m["recordingId"].(string)
	if code != 200 || id == "" || m["recordingState"] != "active" {
		t.Fatalf("start: %d %v", code, m)
	}
	stateChanged("active")
	base := "/calling/recordings/" + id
	conflicts := []struct{ method, path, code, msg string }{
		{"POST", "/calling/recordings", "RecordingAlreadyInProgress", "Recording is already in progress"},
		{"POST", base + ":resume", "RecordingNotPaused", "Recording is not paused"},
	}
	check := func() {
		t.Helper()
		for _, c := range conflicts {
			body := ""
			if c.path == "/calling/recordings" {
				body = start
			}
			code, m := do(c.method, c.path, body, "tok")
			if gotCode, gotMsg := errOf(m); code != 409 || gotCode != c.code || gotMsg != c.msg {
				t.Fatalf("%s %s: %d %s %q, want 409 %s %q", c.method, c.path, code, gotCode, gotMsg, c.code, c.msg)
			}
		}
	}
	check()
	if code, m := do("POST", base+":pause", "", "tok"); code != 200 || m["recordingState"] != "paused" {
		t.Fatalf("pause: %d %v", code, m)
	}
	stateChanged("paused")
	if code, m := do("GET", base, "", "tok"); code != 200 || m["recordingState"] != "paused" || m["serverCallId"] != cd.CallID {
		t.Fatalf("get: %d %v", code, m)
	}
	conflicts = []struct{ method, path, code, msg string }{
		{"POST", base + ":pause", "RecordingAlreadyPaused", "Recording is already paused"},
	}
	check()
	if code, m := do("POST", base+":resume", "", "tok"); code != 200 || m["recordingState"] != "active" {
		t.Fatalf("resume: %d %v", code, m)
	}
	stateChanged("active")
	if code, m := do("DELETE", base, "", "tok"); code != 200 || m["recordingState"] != "inactive" {
		t.Fatalf("stop: %d %v", code, m)
	}
	bot.next(t, activity.TypeEvent, 5*time.Second) // recording.fileReady
	stateChanged("inactive")
	if code, m := do("GET", base, "", "tok"); code != 200 || m["recordingState"] != "inactive" {
		t.Fatalf("get after stop: %d %v", code, m)
	}
	conflicts = []struct{ method, path, code, msg string }{
		{"DELETE", base, "RecordingNotStarted", "Recording has not started"},
		{"POST", base + ":pause", "RecordingNotStarted", "Recording has not started"},
	}
	check()
	if code, _ := do("GET", "/calling/recordings/unknown", "", "tok"); code != 404 {
		t.Fatalf("unknown recording: %d", code)
	}
	if code, _ := do("POST", base+":explode", "", "tok"); code != 404 {
		t.Fatalf("unknown action: %d", code)
	}
	call.Hangup(ctx)
}

// With --api-token, what shows or changes the gateway's state needs the
// token: /stats and the profiler answer 401 without it, and /healthz tells
// anyone the gateway is up but only a token holder how many calls it has.
func TestAPITokenGuardsState(t *testing.T) {
	gw := startGateway(t, "--api-token", "tok", "--pprof")
	get := func(path, token string) (int, string) {
		t.Helper()
		code, b := gw.request(t, "GET", path, "", token)
		return code, string(b)
	}
	for _, path := range []string{"/stats", "/debug/pprof/"} {
		if code, _ := get(path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d, want 401", path, code)
		}
		if code, _ := get(path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, code)
		}
		if code, _ := get(path, "tok"); code != http.StatusOK {
			t.Errorf("%s with the token: %d, want 200", path, code)
		}
	}
	if code, body := get("/healthz", ""); code != 200 || strings.Contains(body, "calls") {
		t.Errorf("/healthz without token: %d %s, want 200 without the call count", code, body)
	}
	if code, body := get("/healthz", "tok"); code != 200 || !strings.Contains(body, `"calls":0`) {
		t.Errorf("/healthz with the token: %d %s", code, body)
	}
}

// request sends one HTTP request to the gateway, with the bearer token when
// one is given and any more headers (name, value, ...), and returns the
// status and body.
func (g *gateway) request(t *testing.T, method, path, body, token string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, g.httpURL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
