package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store/s3test"
)

// minioServer is a real MinIO server (s3test) and the bucket reads the
// tests check recordings with.
type minioServer struct {
	*s3test.Server
	client *minio.Client
}

// startMinIO runs MinIO and sets the AWS_* credentials botline reads, for
// this test.
func startMinIO(t *testing.T) *minioServer {
	t.Helper()
	s := s3test.Start(t)
	return &minioServer{Server: s, client: s.Client}
}

// storeArgs point botline at the bucket "recordings" under prefix.
func (m *minioServer) storeArgs(prefix string) []string {
	return []string{"--store", "s3://recordings/" + prefix, "--store-endpoint", m.Endpoint}
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
