package recordingsapi

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
	"github.com/gorilla/websocket"
)

// liveCall is a call whose recording is a real recorder on a temporary
// directory; the commands it was given are kept.
type liveCall struct {
	id     string
	rec    *recorder.Recorder
	listen Listeners

	mu       sync.Mutex
	sessions []string
	told     []recorder.State // what the bot was told after each command
}

func (c *liveCall) CallID() string        { return c.id }
func (c *liveCall) Listeners() *Listeners { return &c.listen }
func (c *liveCall) Recording() (string, recorder.State) {
	return c.rec.Current(), c.rec.State()
}

func (c *liveCall) Record(cmd recorder.Command, o recorder.Options) (recorder.Info, recorder.State, error) {
	info, err := c.rec.DoWith(cmd, o)
	if err != nil {
		return info, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd == recorder.Start {
		c.sessions = append(c.sessions, info.RecordingID)
	}
	c.told = append(c.told, c.rec.State())
	return info, c.rec.State(), nil
}

// calls finds liveCalls by Call-ID and by the recordings they made.
type calls []*liveCall

func (cs calls) ByCallID(id string) (Call, bool) {
	for _, c := range cs {
		if c.id == id {
			return c, true
		}
	}
	return nil, false
}

func (cs calls) ByRecording(id string) (Call, bool) {
	for _, c := range cs {
		c.mu.Lock()
		for _, s := range c.sessions {
			if s == id {
				c.mu.Unlock()
				return c, true
			}
		}
		c.mu.Unlock()
	}
	return nil, false
}

func serveControl(t *testing.T, token string) (*liveCall, string) {
	t.Helper()
	c := &liveCall{id: "call-1@example", rec: recorder.New(recorder.Config{Dir: t.TempDir(), CallID: "call-1@example"})}
	t.Cleanup(func() { c.rec.Close(recorder.SessionEndCallEnded) })
	mux := http.NewServeMux()
	(&Control{Calls: calls{c}, Token: token}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// call sends a request to the API and decodes its JSON answer.
func call(t *testing.T, method, url, body, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &v)
	return res.StatusCode, v
}

func errCode(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// The API runs the recording state table with the commands' errors, and
// tells the call (the bot) after every change.
func TestControlStateTable(t *testing.T) {
	c, url := serveControl(t, "tok")
	api := url + "/calling/recordings"
	if code, v := call(t, "POST", api, `{"serverCallId":"call-1@example"}`, ""); code != 401 || errCode(v) != "Unauthorized" {
		t.Fatalf("no token: %d %v", code, v)
	}
	code, v := call(t, "POST", api, `{"serverCallId":"call-1@example","recordingChannelType":"unmixed"}`, "tok")
	id, _ := v["recordingId"].(string)
	if code != 200 || v["recordingState"] != "active" || v["serverCallId"] != "call-1@example" || id == "" {
		t.Fatalf("start: %d %v", code, v)
	}
	if code, v := call(t, "POST", api, `{"serverCallId":"call-1@example"}`, "tok"); code != 409 || errMessage(v) != "Recording is already in progress" {
		t.Fatalf("second start: %d %v", code, v)
	}
	if code, v := call(t, "POST", api+"/"+id+":pause", "", "tok"); code != 200 || v["recordingState"] != "paused" {
		t.Fatalf("pause: %d %v", code, v)
	}
	if code, v := call(t, "GET", api+"/"+id, "", "tok"); code != 200 || v["recordingState"] != "paused" {
		t.Fatalf("get: %d %v", code, v)
	}
	if code, v := call(t, "POST", api+"/"+id+":resume", "", "tok"); code != 200 || v["recordingState"] != "active" {
		t.Fatalf("resume: %d %v", code, v)
	}
	if code, v := call(t, "DELETE", api+"/"+id, "", "tok"); code != 200 || v["recordingState"] != "inactive" {
		t.Fatalf("stop: %d %v", code, v)
	}
	if code, v := call(t, "GET", api+"/"+id, "", "tok"); code != 200 || v["recordingState"] != "inactive" {
		t.Fatalf("get after stop: %d %v", code, v)
	}
	if code, v := call(t, "POST", api+"/"+id+":pause", "", "tok"); code != 409 || errMessage(v) != "Recording has not started" {
		t.Fatalf("pause after stop: %d %v", code, v)
	}
	_, v = call(t, "POST", api, `{"serverCallId":"call-1@example"}`, "tok") // a second session of the call
	if code, v := call(t, "POST", api+"/"+id+":resume", "", "tok"); code != 409 || errCode(v) != recorder.CodeNotStarted {
		t.Fatalf("resume of the earlier session while a new one runs: %d %v", code, v)
	}
	if code, w := call(t, "GET", api+"/"+id, "", "tok"); code != 200 || w["recordingState"] != "inactive" {
		t.Fatalf("the earlier session: %d %v, want inactive", code, w)
	}
	if v["recordingId"] == id {
		t.Fatal("a new session reused the recording id")
	}
	c.mu.Lock()
	told := append([]recorder.State(nil), c.told...)
	c.mu.Unlock()
	want := []recorder.State{recorder.Recording, recorder.Paused, recorder.Recording, recorder.Idle, recorder.Recording}
	if len(told) != len(want) {
		t.Fatalf("the call was told %v, want %v", told, want)
	}
	for i := range want {
		if told[i] != want[i] {
			t.Fatalf("the call was told %v, want %v", told, want)
		}
	}
}

// Bad requests get 400 or 404 with a reason, and change nothing.
func TestControlRefusals(t *testing.T) {
	c, url := serveControl(t, "")
	api := url + "/calling/recordings"
	for body, want := range map[string]int{
		`{}`: 400, `not json`: 400, `{"serverCallId":"nobody"}`: 404,
		`{"serverCallId":"call-1@example","recordingChannelType":"surround"}`: 400,
		`{"serverCallId":"call-1@example","pauseBehavior":"rewind"}`:          400,
	} {
		if code, v := call(t, "POST", api, body, ""); code != want || errMessage(v) == "" {
			t.Errorf("%s: %d %v, want %d with a message", body, code, v, want)
		}
	}
	for method, u := range map[string]string{"POST": api + "/unknown:pause", "DELETE": api + "/unknown"} {
		if code, v := call(t, method, u, "", ""); code != 404 || errCode(v) != "RecordingNotFound" {
			t.Errorf("%s %s: %d %v", method, u, code, v)
		}
	}
	if code, v := call(t, "POST", api+"/x:rewind", "", ""); code != 404 || errCode(v) != "NotFound" {
		t.Errorf("unknown action: %d %v", code, v)
	}
	if code, _ := call(t, "GET", api+"/unknown", "", ""); code != 404 {
		t.Errorf("GET unknown: %d", code)
	}
	if id, st := c.Recording(); id != "" || st != recorder.Idle {
		t.Fatalf("refused requests changed the recording: %q %v", id, st)
	}
}

// A listener gets a JSON header, then each frame mixed as 16-bit PCM
// (silence while the recording is paused), and a close when the call ends.
func TestListen(t *testing.T) {
	c, url := serveControl(t, "tok")
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/calls/call-1@example/listen"
	if _, res, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || res.StatusCode != 401 {
		t.Fatalf("listening without the token: %v", err)
	}
	hdr := http.Header{"Authorization": {"Bearer tok"}}
	if _, res, err := websocket.DefaultDialer.Dial(strings.Replace(wsURL, "call-1@example", "nobody", 1), hdr); err == nil || res.StatusCode != 404 {
		t.Fatalf("listening to an unknown call: %v", err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var h listenHeader
	if err := ws.ReadJSON(&h); err != nil || h.CallID != "call-1@example" || h.SampleRate != 8000 || h.Format != "pcm_s16le" || h.FrameMs != 20 {
		t.Fatalf("header %+v %v", h, err)
	}
	ls := c.Listeners()
	deadline := time.Now().Add(5 * time.Second)
	for !ls.Active() { // the listener joins after its header is written
		if time.Now().After(deadline) {
			t.Fatal("the listener never joined")
		}
		time.Sleep(time.Millisecond)
	}
	heard, played := make([]int16, 160), make([]int16, 160)
	for i := range heard {
		heard[i], played[i] = 1000, 30000
	}
	ls.Write(heard, played, false)
	ls.Write(heard, played, true) // paused: silence
	for i, want := range []int16{31000, 0} {
		_, msg, err := ws.ReadMessage()
		if err != nil || len(msg) != 320 {
			t.Fatalf("frame %d: %d bytes, %v", i, len(msg), err)
		}
		if got := int16(binary.LittleEndian.Uint16(msg)); got != want {
			t.Fatalf("frame %d sample %d, want %d", i, got, want)
		}
	}
	big := make([]int16, 160)
	for i := range big {
		big[i] = 30000
	}
	ls.Write(big, big, false) // clipped, not wrapped
	if _, msg, _ := ws.ReadMessage(); int16(binary.LittleEndian.Uint16(msg)) != 32767 {
		t.Fatalf("a sum over the range is %d, want 32767", int16(binary.LittleEndian.Uint16(msg)))
	}
	ls.CloseAll()
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after the call ended: %v, want a normal close", err)
	}
}
