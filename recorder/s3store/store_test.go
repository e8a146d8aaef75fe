package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store/s3test"
)

// These tests run against a real MinIO server (s3test).

// record makes a finished recording of n chunks in dir and returns its
// file-ready event.
func record(t *testing.T, dir string, chunks int) recorder.FileReadyEvent {
	t.Helper()
	var ev recorder.FileReadyEvent
	done := make(chan struct{})
	r := recorder.New(recorder.Config{Dir: dir, CallID: "c1", ChunkMax: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnFinish: func(mds []recorder.Metadata, end recorder.SessionEnd) {
			ev = recorder.NewFileReadyEvent(mds, end, "botline@test", "http://127.0.0.1:8080/")
			close(done)
		}})
	if _, err := r.Do(recorder.Start); err != nil {
		t.Fatal(err)
	}
	frame := slices.Repeat([]int16{1200}, 160)
	for range chunks*10 - 5 { // 10 frames of 20 ms per 200 ms chunk; the last half full
		r.WriteAudio(frame, frame)
	}
	r.Close(recorder.SessionEndCallEnded)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the recording never finished")
	}
	if n := len(ev.Data.RecordingStorageInfo.RecordingChunks); n != chunks {
		t.Fatalf("%d chunks, want %d", n, chunks)
	}
	return ev
}

func openStore(t *testing.T, m *s3test.Server, dir, prefix string) *Store {
	t.Helper()
	b, err := Open(Config{URL: "s3://recordings/" + prefix, Endpoint: m.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Prepare(context.Background(), 10*time.Second); !ok || err != nil {
		t.Fatalf("Prepare: %v %v", ok, err)
	}
	return &Store{Bucket: b, Local: recorder.LocalStore{Dir: dir}}
}

// A finished recording goes up whole, the local copy goes, and the store
// then serves it from the bucket: audio byte for byte and by range,
// metadata, listing, and erasure.
func TestUploadThenServeFromTheBucket(t *testing.T) {
	m := s3test.Start(t)
	dir := t.TempDir()
	ev := record(t, dir, 2)
	chunks := ev.Data.RecordingStorageInfo.RecordingChunks
	want := map[string][]byte{}
	for _, c := range chunks {
		b, err := os.ReadFile(filepath.Join(dir, c.DocumentID+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		want[c.DocumentID] = b
	}
	s := openStore(t, m, dir, "site-1")
	u := &Uploader{Store: s, Logger: slog.New(slog.DiscardHandler)}
	if err := u.Upload(context.Background(), Files(ev)); err != nil {
		t.Fatal(err)
	}
	if st := u.Stats(); st.Uploaded != 4 || st.Bytes == 0 || st.Failures != 0 {
		t.Fatalf("stats %+v: want 2 chunks' audio and metadata up (no manifest: no evidence key), no failure", st)
	}
	for id := range want {
		if _, err := os.Stat(filepath.Join(dir, id+".wav")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s.wav still on disk after the upload: %v", id, err)
		}
	}

	ctx := context.Background()
	ids, err := s.List(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("List = %v %v, want the 2 chunks", ids, err)
	}
	for id, b := range want {
		f, _, err := s.Audio(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		if !bytes.Equal(got, b) {
			t.Fatalf("%s from the bucket: %d bytes, want the %d uploaded", id, len(got), len(b))
		}
		f.Seek(44, io.SeekStart)
		part := make([]byte, 100)
		if _, err := io.ReadFull(f, part); err != nil || !bytes.Equal(part, b[44:144]) {
			t.Fatalf("%s bytes 44-143 from the bucket: %v", id, err)
		}
		f.Close()
		md, raw, err := s.Metadata(ctx, id)
		if err != nil || md.ChunkDocumentID != id || md.Sha256 == "" || len(raw) == 0 {
			t.Fatalf("%s metadata: %+v %v", id, md, err)
		}
	}
	if _, err := s.Transcript(ctx, ev.ID); !errors.Is(err, recorder.ErrNotFound) {
		t.Fatalf("transcript of a recording without one: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Audio(ctx, "aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, recorder.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	first := chunks[0].DocumentID
	if err := s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Metadata(ctx, first); !errors.Is(err, recorder.ErrNotFound) {
		t.Fatalf("metadata after Delete: %v, want ErrNotFound", err)
	}
	if ids, _ := s.List(ctx); len(ids) != 1 {
		t.Fatalf("List after Delete = %v, want 1 chunk", ids)
	}
}

// While the store is down an upload fails and keeps the local files,
// which the store serves meanwhile; once it is back the upload goes
// through. Finished chunks nobody named are found for adoption.
func TestUploadFailsWhileTheStoreIsDown(t *testing.T) {
	m := s3test.Start(t)
	dir := t.TempDir()
	s := openStore(t, m, dir, "")
	ev := record(t, dir, 1)
	id := ev.Data.RecordingStorageInfo.RecordingChunks[0].DocumentID
	orig, _ := os.ReadFile(filepath.Join(dir, id+".wav"))
	u := &Uploader{Store: s, Logger: slog.New(slog.DiscardHandler)}
	strays, err := u.Strays(context.Background(), func(string) bool { return false })
	if err != nil || len(strays) != 1 || !slices.Contains(strays[0], id+".wav") || !slices.Contains(strays[0], ev.ID+recorder.ManifestExt) {
		t.Fatalf("Strays = %v %v, want the one last chunk with its manifest", strays, err)
	}
	if strays, _ := u.Strays(context.Background(), func(f string) bool { return f == id+".json" }); len(strays) != 0 {
		t.Fatalf("a named chunk was taken for a stray: %v", strays)
	}
	m.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := u.Upload(ctx, Files(ev)); err == nil || u.Stats().Failures != 1 {
		t.Fatalf("Upload with the store down: %v, %d failures", err, u.Stats().Failures)
	}
	if f, _, err := s.Audio(context.Background(), id); err != nil {
		t.Fatalf("a recording waiting for the store is not served from disk: %v", err)
	} else {
		f.Close()
	}
	m.Start(t)
	if err := u.Upload(ctx, Files(ev)); err != nil {
		t.Fatal(err)
	}
	obj, err := m.Client.GetObject(context.Background(), "recordings", id+".wav", minioGet)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj)
	if !bytes.Equal(got, orig) {
		t.Fatalf("after the outage: %d bytes in the bucket of %d", len(got), len(orig))
	}
	if _, err := os.Stat(filepath.Join(dir, id+".wav")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the local copy is still there: %v", err)
	}
}

var minioGet = minio.GetObjectOptions{}
