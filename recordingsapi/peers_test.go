package recordingsapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/botline/botline/recorder"
)

// node is one botline's HTTP side as far as forwarding goes: it owns the
// recordings whose ids start with its tag and the calls it was given, and
// answers everything else 404; it counts what it served and whether a
// request came forwarded.
type node struct {
	id, url   string
	calls     map[string]bool
	served    atomic.Int32
	forwarded atomic.Int32
}

func (n *node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.served.Add(1)
	if r.Header.Get(ForwardedBy) != "" {
		n.forwarded.Add(1)
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/calling/recordings":
		body, _ := io.ReadAll(r.Body)
		for call := range n.calls {
			if strings.Contains(string(body), call) {
				fmt.Fprintf(w, `{"recordingId":%q,"recordingState":"active"}`, recorder.NodeTag(n.id)+"rest")
				return
			}
		}
	case strings.Contains(r.URL.Path, "/"+recorder.NodeTag(n.id)):
		fmt.Fprintf(w, `{"servedBy":%q}`, n.id)
		return
	}
	w.WriteHeader(404)
	w.Write([]byte(`{"error":{"code":"NotFound","message":"not here"}}`))
}

// cluster starts two nodes that know each other.
func cluster(t *testing.T, downloads bool) (a, b *node) {
	t.Helper()
	a, b = &node{id: "node-a", calls: map[string]bool{}}, &node{id: "node-b", calls: map[string]bool{"call-on-b": true}}
	var srvA, srvB *httptest.Server
	handlers := map[*node]http.Handler{}
	srvA = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handlers[a].ServeHTTP(w, r) }))
	srvB = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handlers[b].ServeHTTP(w, r) }))
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	a.url, b.url = srvA.URL, srvB.URL
	log := slog.New(slog.DiscardHandler)
	pa, err := ParsePeers([]string{"node-b=" + b.url}, "node-a", downloads, log)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ParsePeers([]string{"node-a=" + a.url}, "node-b", downloads, log)
	if err != nil {
		t.Fatal(err)
	}
	handlers[a], handlers[b] = pa.Wrap(a), pb.Wrap(b)
	return a, b
}

func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// A request for a recording another node owns is answered by that node,
// marked as forwarded, and never passed on again; a start by serverCallId
// is answered by the node that carries the call.
func TestPeersForward(t *testing.T) {
	a, b := cluster(t, false)
	bID := recorder.NewID(recorder.NodeTag("node-b"))
	for _, path := range []string{"/calling/recordings/" + bID, "/calling/recordings/" + bID + ":pause"} {
		method := "GET"
		if strings.HasSuffix(path, ":pause") {
			method = "POST"
		}
		if code, body := send(t, method, a.url+path, ""); code != 200 || !strings.Contains(body, `"servedBy":"node-b"`) {
			t.Fatalf("%s %s on A: %d %s, want node B's answer", method, path, code, body)
		}
	}
	if b.forwarded.Load() != 2 || a.served.Load() != 0 {
		t.Fatalf("B served %d forwarded requests, A %d; want 2 and 0", b.forwarded.Load(), a.served.Load())
	}
	code, body := send(t, "POST", a.url+"/calling/recordings", `{"serverCallId":"call-on-b"}`)
	if code != 200 || !strings.Contains(body, recorder.NodeTag("node-b")) {
		t.Fatalf("start by serverCallId on A: %d %s, want B's recording", code, body)
	}
	if a.served.Load() != 1 {
		t.Fatalf("A tried the start %d times, want once (its own 404 first)", a.served.Load())
	}
	if code, body := send(t, "POST", a.url+"/calling/recordings", `{"serverCallId":"nowhere"}`); code != 404 || !strings.Contains(body, "not here") {
		t.Fatalf("an unknown call: %d %s, want 404", code, body)
	}
	req, _ := http.NewRequest("GET", a.url+"/calling/recordings/"+bID, nil)
	req.Header.Set(ForwardedBy, "node-b")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("a forwarded request was passed on again: %d", res.StatusCode)
	}
	// Downloads stay local with a shared store; without one they follow the id.
	if code, _ := send(t, "GET", a.url+"/recording/download/"+bID, ""); code != 404 {
		t.Fatalf("download with a shared store was forwarded: %d", code)
	}
	a2, _ := cluster(t, true)
	if code, body := send(t, "GET", a2.url+"/recording/download/"+bID, ""); code != 200 || !strings.Contains(body, "node-b") {
		t.Fatalf("download without a shared store: %d %s, want B's", code, body)
	}
}

// A peer that does not answer is a 502 that says so; bad --peer values and
// nodes whose tags collide are refused in one line.
func TestPeersRefusals(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	p, err := ParsePeers([]string{"node-b=" + deadURL}, "node-a", false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	code, body := send(t, "GET", srv.URL+"/calling/recordings/"+recorder.NewID(recorder.NodeTag("node-b")), "")
	if code != 502 || !strings.Contains(body, "NodeUnavailable") {
		t.Fatalf("unreachable peer: %d %s", code, body)
	}
	if p, err := ParsePeers(nil, "node-a", false, nil); p != nil || err != nil {
		t.Fatalf("no peers: %v %v", p, err)
	}
	if h := (*Peers)(nil).Wrap(http.NotFoundHandler()); h == nil {
		t.Fatal("a nil Peers wraps nothing")
	}
	for _, bad := range []string{"node-b", "=http://x:1", "node-b=ftp://x", "node-b=http://"} {
		if _, err := ParsePeers([]string{bad}, "node-a", false, nil); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("--peer %q: %v", bad, err)
		}
	}
	// A peer with this node's own id has its tag: the simplest collision.
	if _, err := ParsePeers([]string{"node-a=http://127.0.0.1:1"}, "node-a", false, nil); err == nil || !strings.Contains(err.Error(), "another --node-id") {
		t.Fatalf("colliding tags: %v", err)
	}
}
