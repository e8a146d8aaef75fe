package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/botline/botline/recorder"
)

// The test MinIO's root credentials, given to botline as AWS_* variables.
const minioUser, minioPassword = "botline-test", "botline-test-secret"

// minioServer is a real MinIO server on 127.0.0.1 with its data in a
// temporary directory; stop and start it to play an outage.
type minioServer struct {
	endpoint string // http://127.0.0.1:port
	addr     string
	dir      string
	log      *syncBuffer
	client   *minio.Client
	cmd      *exec.Cmd
	exited   chan struct{}
}

// minioBinary finds the server `make deps-minio` built.
func minioBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BOTLINE_TEST_MINIO"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	if found, _ := filepath.Glob(filepath.Join(home, ".cache", "botline", "minio-*", "minio")); len(found) > 0 {
		sort.Strings(found)
		return found[len(found)-1]
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	t.Fatal("MinIO not built: run `make test` (or `make deps-minio`), which builds it from the Go module proxy")
	return ""
}

// startMinIO runs MinIO and sets the AWS_* credentials botline reads, for
// this test.
func startMinIO(t *testing.T) *minioServer {
	t.Helper()
	m := &minioServer{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), dir: t.TempDir(), log: &syncBuffer{}}
	m.endpoint = "http://" + m.addr
	c, err := minio.New(m.addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	m.client = c
	t.Setenv("AWS_ACCESS_KEY_ID", minioUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", minioPassword)
	m.start(t)
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("MinIO log:\n%s", m.log.String())
		}
	})
	return m
}

// start runs the server (again, on the same port and data) and waits until
// it is ready.
func (m *minioServer) start(t *testing.T) {
	t.Helper()
	m.cmd = exec.Command(minioBinary(t), "server", m.dir, "--address", m.addr, "--console-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--quiet")
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off")
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(m.cmd, m.exited)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(m.endpoint + "/minio/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-m.exited:
			t.Fatalf("MinIO exited at start:\n%s", m.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO not ready on %s:\n%s", m.addr, m.log.String())
		}
	}
}

// stop kills the server (an outage, as far as botline can tell).
func (m *minioServer) stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// storeArgs point botline at the bucket "recordings" under prefix.
func (m *minioServer) storeArgs(prefix string) []string {
	return []string{"--store", "s3://recordings/" + prefix, "--store-endpoint", m.endpoint}
}

// object reads one object whole.
func (m *minioServer) object(t *testing.T, key string) []byte {
	t.Helper()
	obj, err := m.client.GetObject(context.Background(), "recordings", key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

// bucketRecording is one chunk in the bucket: its metadata and audio.
type bucketRecording struct {
	md    recorder.Metadata
	audio []byte
}

// recordings reads every chunk under prefix.
func (m *minioServer) recordings(t *testing.T, prefix string) map[string]bucketRecording {
	t.Helper()
	found := map[string]bucketRecording{}
	for obj := range m.client.ListObjects(context.Background(), "recordings", minio.ListObjectsOptions{Prefix: prefix + "/"}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, prefix+"/"), ".json")
		if !ok || !recorder.ValidDocumentID(id) {
			continue
		}
		var md recorder.Metadata
		if err := json.Unmarshal(m.object(t, obj.Key), &md); err != nil {
			t.Fatalf("%s: %v", obj.Key, err)
		}
		found[id] = bucketRecording{md: md, audio: m.object(t, prefix+"/"+id+".wav")}
	}
	return found
}

// count is how many chunks (metadata objects) are under prefix.
func (m *minioServer) count(t *testing.T, prefix string) int {
	t.Helper()
	n := 0
	for obj := range m.client.ListObjects(context.Background(), "recordings", minio.ListObjectsOptions{Prefix: prefix + "/"}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if strings.HasSuffix(obj.Key, ".json") {
			n++
		}
	}
	return n
}

// waitRecordings waits until the bucket holds n chunks under prefix.
func (m *minioServer) waitRecordings(t *testing.T, prefix string, n int, within time.Duration) map[string]bucketRecording {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		recs := m.recordings(t, prefix)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bucket holds %d recordings under %s/, want %d", len(recs), prefix, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkBucketRecording checks that a chunk in the bucket is whole: its audio
// hashes to its metadata's sha256 and is a WAV of at least least.
func checkBucketRecording(t *testing.T, id string, r bucketRecording, least time.Duration) {
	t.Helper()
	sum := sha256.Sum256(r.audio)
	if hex.EncodeToString(sum[:]) != r.md.Sha256 || r.md.EndReason == "" {
		t.Fatalf("%s in the bucket: sha256 %x, metadata says %q (endReason %q)", id, sum, r.md.Sha256, r.md.EndReason)
	}
	f := filepath.Join(t.TempDir(), id+".wav")
	os.WriteFile(f, r.audio, 0o600)
	if d := readWAV(t, f).duration; d < least {
		t.Fatalf("%s in the bucket holds %v of audio, want >= %v", id, d, least)
	}
}

// download fetches a recording's audio from a node's download API.
func download(t *testing.T, g *gateway, id string, header ...string) (int, []byte) {
	t.Helper()
	return g.request(t, "GET", "/recording/download/"+id, "", g.token, header...)
}

// checkDownloads checks that every node serves each chunk byte-exact, and
// a Range of it.
func checkDownloads(t *testing.T, recs map[string]bucketRecording, nodes ...*gateway) {
	t.Helper()
	for id, r := range recs {
		for _, g := range nodes {
			if code, b := download(t, g, id); code != 200 || !bytes.Equal(b, r.audio) {
				t.Fatalf("%s from %s: %d, %d bytes (the bucket has %d)", id, g.httpURL, code, len(b), len(r.audio))
			}
		}
		if code, b := download(t, nodes[len(nodes)-1], id, "Range", "bytes=1000-1999"); code != 206 || !bytes.Equal(b, r.audio[1000:2000]) {
			t.Fatalf("%s, bytes 1000-1999: %d, %d bytes", id, code, len(b))
		}
	}
}
