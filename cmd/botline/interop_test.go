package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/botauth"
	"github.com/botline/botline/recorder"
	"github.com/golang-jwt/jwt/v5"
)

// jsLine is one line the botbuilder-js bot prints.
type jsLine struct {
	Event    string            `json:"event"`
	Step     int               `json:"step"`
	Type     string            `json:"type"`
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Value    json.RawMessage   `json:"value"`
	Activity activity.Activity `json:"activity"`
	Message  string            `json:"message"`
}

// The expected outcome of each step of bots/interop/index.js's script:
// the error code ("" = success) and whether the command carried a commandId.
var interopExpect = []struct {
	op, code, commandID string
}{
	{"pause", "RecordingNotStarted", "c1"},
	{"stop", "RecordingNotStarted", "c2"},
	{"resume", "RecordingNotStarted", ""}, // no value: commandId = the command's id
	{"start", "", "c4"},
	{"start", "RecordingAlreadyInProgress", "c5"},
	{"resume", "RecordingNotPaused", "c6"},
	{"pause", "", "c7"},
	{"pause", "RecordingAlreadyPaused", "c8"},
	{"start", "RecordingAlreadyInProgress", "c9"},
	{"resume", "", ""},
	{"stop", "", "c11"},
	{"stop", "RecordingNotStarted", "c12"},
	{"start", "", "c13"},
	{"pause", "", "c14"},
	{"stop", "", "c15"},
	{"start", "", "c16"},
	{"unknown", "NotSupported", "c17"},
}

var interopMessages = map[string]string{
	"RecordingNotStarted":        "Recording has not started",
	"RecordingAlreadyInProgress": "Recording is already in progress",
	"RecordingAlreadyPaused":     "Recording is already paused",
	"RecordingNotPaused":         "Recording is not paused",
	"NotSupported":               "Command channel/vnd.microsoft.telephony.unknown is not supported",
}

// TestInteropBotbuilderJS runs a stock botbuilder-js 4.x bot (CloudAdapter,
// no credentials) against the binary. A Go caller on sipgo places the call
// and streams audio; the bot sends the whole state table of recording
// commands and then ends the call, which must reach the caller as BYE.
// It runs over both bot transports; over streaming, the bot destroys the
// socket when one commandResult arrives, and the gateway must reconnect and
// deliver that commandResult again.
func TestInteropBotbuilderJS(t *testing.T) {
	t.Run("http", func(t *testing.T) { interop(t, "http", -1, false) })
	t.Run("streaming", func(t *testing.T) { interop(t, "streaming", 5, false) })
}

// TestInteropBotbuilderJSAuthenticated runs the same bot with an app id and
// password, its auth settings pointed at botline (HTTPS, a throwaway CA
// given to Node with NODE_EXTRA_CA_CERTS): botline's tokens pass the SDK's
// own validation, and the bot's tokens from botline's token endpoint pass
// the Connector API's.
func TestInteropBotbuilderJSAuthenticated(t *testing.T) {
	t.Run("http", func(t *testing.T) { interop(t, "http", -1, true) })
	t.Run("streaming", func(t *testing.T) { interop(t, "streaming", 5, true) })
}

// The app id and password of the authenticated interop runs.
const (
	interopAppID    = "7f3c2a10-botline-interop"
	interopPassword = "interop-password-1"
)

func interop(t *testing.T, transport string, dropAt int, authed bool) {
	botDir, _ := filepath.Abs(filepath.Join("..", "..", "bots", "interop"))
	if _, err := os.Stat(filepath.Join(botDir, "node_modules", "botbuilder")); err != nil {
		t.Fatalf("botbuilder is not installed in %s: run `make test`, which runs npm ci there", botDir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not installed")
	}
	port := freePort(t)
	bot := exec.Command(node, "index.js")
	bot.Dir = botDir
	bot.Env = append(os.Environ(), fmt.Sprintf("BOT_PORT=%d", port), "STEP_DELAY_MS=150", fmt.Sprintf("DROP_AT_STEP=%d", dropAt))
	gwArgs := []string{"--bot-endpoint", fmt.Sprintf("http://127.0.0.1:%d/api/messages", port), "--bot-transport", transport, "--stt", "none"}
	var kid, gwURL string
	if authed {
		dir := t.TempDir()
		tlsArgs, ca := httpsFlags(t, dir)
		gwURL = fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
		key, err := botauth.LoadOrCreateKey(filepath.Join(dir, "signing.pem"))
		if err != nil {
			t.Fatal(err)
		}
		kid = botauth.KeyID(&key.PublicKey)
		gwArgs = append(gwArgs, tlsArgs...)
		gwArgs = append(gwArgs, "--signing-key", filepath.Join(dir, "signing.pem"))
		gwArgs = append(gwArgs, "--http-listen", strings.TrimPrefix(gwURL, "https://"),
			"--bot-app-id", interopAppID, "--bot-app-password", interopPassword)
		bot.Env = append(bot.Env, "NODE_EXTRA_CA_CERTS="+ca,
			"MicrosoftAppId="+interopAppID, "MicrosoftAppPassword="+interopPassword,
			"ToBotFromChannelOpenIdMetadataUrl="+gwURL+"/.well-known/openidconfiguration",
			"ToBotFromChannelTokenIssuer="+gwURL,
			"ToChannelFromBotLoginUrl="+gwURL+"/botline",
			"ToChannelFromBotOAuthScope="+gwURL,
			"ValidateAuthority=false")
	}
	stdout, _ := bot.StdoutPipe()
	var stderr syncBuffer
	bot.Stderr = &stderr
	if err := bot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bot.Process.Kill(); bot.Wait() })
	lines := make(chan jsLine, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l jsLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Logf("bot: %s", sc.Text())
				continue
			}
			lines <- l
		}
		close(lines)
	}()
	connects, drops := 0, 0
	var nextLine func(timeout time.Duration) jsLine
	nextLine = func(timeout time.Duration) jsLine {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("bot exited: %s", stderr.String())
			}
			switch l.Event {
			case "error":
				t.Fatalf("bot turn error: %s", l.Message)
			case "connected":
				connects++
				return nextLine(timeout)
			case "dropping":
				drops++
				if l.Step != dropAt {
					t.Fatalf("bot dropped the socket at step %d", l.Step)
				}
				return nextLine(timeout)
			}
			return l
		case <-time.After(timeout):
			t.Fatalf("bot silent for %v: %s", timeout, stderr.String())
		}
		return jsLine{}
	}
	if l := nextLine(30 * time.Second); l.Event != "listening" {
		t.Fatalf("bot said %+v first", l)
	}

	gw := startGateway(t, gwArgs...)
	if authed {
		// The SDK's own validation turns away what botline did not sign:
		// no token, and botline's claims and key id signed by another key.
		foreign, _ := rsa.GenerateKey(rand.Reader, 2048)
		forged := signed(t, foreign, kid, jwt.MapClaims{"iss": gwURL, "aud": interopAppID, "serviceurl": gwURL,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		msg := fmt.Sprintf(`{"type":"message","id":"forged","channelId":"telephony","serviceUrl":%q,"text":"hang up",
			"conversation":{"id":"forged"},"from":{"id":"+14255550123"},"recipient":{"id":"bot"}}`, gwURL)
		for what, auth := range map[string]string{"no token": "", "a forged token": "Bearer " + forged} {
			req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/api/messages", port), strings.NewReader(msg))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			// botbuilder-js answers a missing token 401, and a bad
			// signature 500 (jsonwebtoken's error is not an
			// AuthenticationError); either way no turn runs.
			if want := map[string]int{"no token": 401, "a forged token": 500}[what]; res.StatusCode != want {
				t.Fatalf("the bot answered %s with %d, want %d; its stderr:\n%s", what, res.StatusCode, want, stderr.String())
			}
		}
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "JsonWebTokenError: invalid signature"); time.Sleep(20 * time.Millisecond) {
			if time.Now().Before(deadline) {
				continue // stderr comes through a pipe
			}
			t.Fatalf("the SDK did not check the forged token's signature against botline's key; its stderr:\n%s", stderr.String())
		}
	}
	ctx, _, call := dial(t, gw, 60*time.Second)
	// A 440 Hz tone until hang-up: every recording must hold it.
	toneSamples := audio.Tone(440, time.Minute, 6000, 8000)
	go call.SendAudio(ctx, toneSamples)

	up := nextLine(10 * time.Second)
	if up.Event != "conversationUpdate" {
		t.Fatalf("first activity %+v", up)
	}
	a := up.Activity
	if a.ChannelID != "telephony" || a.From.ID != "+14255550123" || a.From.Name != "+14255550123" ||
		a.Recipient.Name != "+18005550199" || a.Conversation.ID == "" || a.ID == "" ||
		!strings.HasSuffix(a.Timestamp, "Z") || strings.TrimRight(a.ServiceURL, "/") != gw.httpURL ||
		len(a.MembersAdded) != 1 || a.MembersAdded[0].ID != "+14255550123" {
		t.Fatalf("conversationUpdate envelope %+v", a)
	}

	seenIDs := map[string]bool{a.ID: true}
	for i, want := range interopExpect {
		sent := nextLine(10 * time.Second)
		if sent.Event != "sent" || sent.Step != i || sent.ID == "" {
			t.Fatalf("step %d: expected the bot's send, got %+v", i, sent)
		}
		res := nextLine(10 * time.Second)
		if res.Event != "commandResult" {
			t.Fatalf("step %d: expected a commandResult, got %+v", i, res)
		}
		r := res.Activity
		var v activity.CommandResultValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("step %d: value %s", i, r.Value)
		}
		if r.Name != sent.Name {
			t.Errorf("step %d: commandResult name %q, command %q", i, r.Name, sent.Name)
		}
		if r.ReplyToID != sent.ID {
			t.Errorf("step %d: replyToId %q, the command got id %q", i, r.ReplyToID, sent.ID)
		}
		wantCID := want.commandID
		if wantCID == "" {
			wantCID = sent.ID
		}
		if v.CommandID != wantCID {
			t.Errorf("step %d (%s): commandId %q, want %q", i, want.op, v.CommandID, wantCID)
		}
		switch {
		case want.code == "" && v.Error != nil:
			t.Errorf("step %d (%s): unexpected error %+v", i, want.op, v.Error)
		case want.code != "" && (v.Error == nil || v.Error.Code != want.code || v.Error.Message != interopMessages[want.code]):
			t.Errorf("step %d (%s): error %+v, want %s %q", i, want.op, v.Error, want.code, interopMessages[want.code])
		}
		if r.Conversation.ID != a.Conversation.ID || r.ChannelID != "telephony" || seenIDs[r.ID] || seenIDs[sent.ID] {
			t.Errorf("step %d: envelope or id reuse: %+v", i, r)
		}
		seenIDs[r.ID], seenIDs[sent.ID] = true, true
	}
	if l := nextLine(10 * time.Second); l.Event != "sent" || l.Type != "endOfConversation" {
		t.Fatalf("bot did not end the call: %+v", l)
	}
	select {
	case <-call.Ended():
	case <-ctx.Done():
		t.Fatal("the bot's endOfConversation never reached the caller as BYE")
	}
	call.Close()
	gw.waitIdle(t)
	if transport == "streaming" && (drops != 1 || connects != 2) {
		t.Errorf("streaming: %d drops, %d connections; want the one drop and a reconnect", drops, connects)
	}
	if transport == "http" && connects != 0 {
		t.Errorf("http transport opened %d WebSockets", connects)
	}

	// Three recording sessions: c4..c11, c13..c15, c16..hang-up; each a
	// valid file whose metadata was finalized.
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 3 {
		t.Fatalf("recordings %v, want 3", wavs)
	}
	var starts []string
	for _, w := range wavs {
		if r := rmsOf(readWAV(t, w).samples); r < 3000 {
			t.Fatalf("%s: RMS %.0f, the caller's tone (RMS ~4200) is missing", w, r)
		}
		md := readMetadata(t, strings.TrimSuffix(w, ".wav")+".json")
		if md.EndReason != recorder.EndSessionEnded || md.ConversationID != a.Conversation.ID {
			t.Fatalf("metadata %+v", md)
		}
		starts = append(starts, md.ChunkStartTime+fmt.Sprint(len(md.PauseResumeIntervals)))
	}
	sort.Strings(starts)
	// The first session was paused once (c7..c10), the second once (c14 to stop), the third never.
	if !strings.HasSuffix(starts[0], "1") || !strings.HasSuffix(starts[1], "1") || !strings.HasSuffix(starts[2], "0") {
		t.Fatalf("pause intervals per session (by start time): %v", starts)
	}
}
