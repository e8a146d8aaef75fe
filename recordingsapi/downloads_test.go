package recordingsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/botline/botline/recorder"
)

// recordOne makes a finished recording and one still running in dir.
func recordOne(t *testing.T, dir string) (done, running recorder.Info) {
	t.Helper()
	r := recorder.New(recorder.Config{Dir: dir})
	done, _ = r.Do(recorder.Start)
	for range 10 {
		r.WriteAudio(slices.Repeat([]int16{500}, 160), make([]int16, 160))
	}
	r.Do(recorder.Stop)
	running, _ = r.Do(recorder.Start)
	t.Cleanup(func() { r.Close(recorder.SessionEndCallEnded) })
	return done, running
}

func get(t *testing.T, url string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func serve(t *testing.T, dir, token string) string {
	mux := http.NewServeMux()
	(&Downloads{Store: recorder.LocalStore{Dir: dir}, Token: token}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDownloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	done, running := recordOne(t, dir)
	os.WriteFile(filepath.Join(filepath.Dir(dir), "secret.json"), []byte(`{"endReason":"x"}`), 0o600)
	os.WriteFile(filepath.Join(filepath.Dir(dir), "secret.wav"), []byte("SECRET"), 0o600)
	url := serve(t, dir, "")
	want, _ := os.ReadFile(done.AudioPath)

	code, h, body := get(t, url+"/recording/download/"+done.RecordingID, nil)
	if code != 200 || h.Get("Content-Type") != "audio/wav" || !bytes.Equal(body, want) || h.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("audio: %d %v, %d bytes of %d", code, h, len(body), len(want))
	}
	code, h, body = get(t, url+"/recording/download/"+done.RecordingID, map[string]string{"Range": "bytes=0-43"})
	if code != 206 || !bytes.Equal(body, want[:44]) || h.Get("Content-Range") != "bytes 0-43/3244" {
		t.Fatalf("range: %d %q %q", code, h.Get("Content-Range"), body[:4])
	}
	for _, bad := range []string{"bytes=99999-", "bytes=zz", "items=0-1", "bytes=5-2"} {
		if code, _, _ := get(t, url+"/recording/download/"+done.RecordingID, map[string]string{"Range": bad}); code != 416 {
			t.Fatalf("Range %q: %d, want 416", bad, code)
		}
	}
	code, h, body = get(t, url+"/recording/download/"+done.RecordingID+"/metadata", nil)
	var md recorder.Metadata
	if code != 200 || h.Get("Content-Type") != "application/json" || json.Unmarshal(body, &md) != nil || md.Sha256 == "" {
		t.Fatalf("metadata: %d %s", code, body)
	}
	if code, _, body := get(t, url+"/recording/download/"+running.RecordingID, nil); code != 409 {
		t.Fatalf("running recording: %d %s", code, body)
	}
	if code, _, body := get(t, url+"/recording/download/aaaaaaaaaaaaaaaaaaaaaaaaaa", nil); code != 404 || !bytes.Contains(body, []byte(`"code":"NotFound"`)) {
		t.Fatalf("unknown id: %d %s", code, body)
	}
	for _, trick := range []string{"..", "%2e%2e", "..%2fsecret", "%2e%2e%2fsecret", "..%2f..%2fetc%2fpasswd", "%2fetc%2fpasswd", "/etc/passwd", "../secret", "secret", "AAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		for _, suffix := range []string{"", "/metadata"} {
			code, _, body := get(t, url+"/recording/download/"+trick+suffix, nil)
			if code == 200 || bytes.Contains(body, []byte("SECRET")) || bytes.Contains(body, []byte("root:")) {
				t.Fatalf("path trick %q%s: %d %q", trick, suffix, code, body)
			}
		}
	}
}

func TestDeleteRoute(t *testing.T) {
	dir := t.TempDir()
	done, running := recordOne(t, dir)
	url := serve(t, dir, "tok")
	del := func(id, token string) int {
		req, _ := http.NewRequest("DELETE", url+"/recording/"+id, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := del(done.RecordingID, ""); c != 401 {
		t.Fatalf("no token: %d", c)
	}
	if c := del(running.RecordingID, "tok"); c != 409 {
		t.Fatalf("running: %d", c)
	}
	if c := del(done.RecordingID, "tok"); c != 204 {
		t.Fatalf("delete: %d", c)
	}
	if c, _, _ := get(t, url+"/recording/download/"+done.RecordingID, map[string]string{"Authorization": "Bearer tok"}); c != 404 {
		t.Fatalf("download after delete: %d", c)
	}
	if c := del(done.RecordingID, "tok"); c != 404 {
		t.Fatalf("delete twice: %d", c)
	}
	if c := del("%2e%2e%2fsecret", "tok"); c != 404 {
		t.Fatalf("path trick: %d", c)
	}
}

func TestDownloadsToken(t *testing.T) {
	dir := t.TempDir()
	done, _ := recordOne(t, dir)
	url := serve(t, dir, "s3cret") + "/recording/download/" + done.RecordingID
	for name, hdr := range map[string]map[string]string{
		"none":   nil,
		"wrong":  {"Authorization": "Bearer nope"},
		"basic":  {"Authorization": "Basic czNjcmV0"},
		"prefix": {"Authorization": "Bearer s3cre"},
	} {
		if code, h, _ := get(t, url, hdr); code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s token: %d", name, code)
		}
	}
	if code, _, _ := get(t, url, map[string]string{"Authorization": "Bearer s3cret"}); code != 200 {
		t.Fatalf("right token: %d", code)
	}
	if code, _, _ := get(t, url+"/metadata", map[string]string{"Authorization": "Bearer s3cret"}); code != 200 {
		t.Fatalf("right token, metadata: %d", code)
	}
}
