package recordingsapi

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store"
	"github.com/botline/botline/recorder/s3store/s3test"
)

// finished makes a finished one-chunk recording in dir and returns its
// file-ready event.
func finished(t *testing.T, dir string) recorder.FileReadyEvent {
	t.Helper()
	evc := make(chan recorder.FileReadyEvent, 1)
	r := recorder.New(recorder.Config{Dir: dir, CallID: "c1", Logger: slog.New(slog.DiscardHandler),
		OnFinish: func(mds []recorder.Metadata, end recorder.SessionEnd) {
			evc <- recorder.NewFileReadyEvent(mds, end, "botline@test", "http://127.0.0.1:8080/")
		}})
	if _, err := r.Do(recorder.Start); err != nil {
		t.Fatal(err)
	}
	frame := slices.Repeat([]int16{900}, 160)
	for range 10 {
		r.WriteAudio(frame, frame)
	}
	r.Close(recorder.SessionEndCallEnded)
	select {
	case ev := <-evc:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("the recording never finished")
	}
	return recorder.FileReadyEvent{}
}

func inBucket(m *s3test.Server, name string) bool {
	_, err := m.Client.StatObject(context.Background(), "recordings", name, minio.StatObjectOptions{})
	return err == nil
}

// With a store, a recording's event goes out only once its files are in
// the bucket: while the store is down the upload queue holds it and no
// event leaves; once it is back both go, and the spool is empty. A job an
// older botline left in .uploads, and a finished chunk no job names, are
// taken over at start.
func TestAfterCallUploadsThenNotifies(t *testing.T) {
	m := s3test.Start(t)
	dir := t.TempDir()
	b, err := s3store.Open(s3store.Config{URL: "s3://recordings", Endpoint: m.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Prepare(context.Background(), 10*time.Second); !ok || err != nil {
		t.Fatalf("Prepare: %v %v", ok, err)
	}
	up := &s3store.Uploader{Store: &s3store.Store{Bucket: b, Local: recorder.LocalStore{Dir: dir}}, Logger: slog.New(slog.DiscardHandler)}

	old := finished(t, dir) // spooled by an older botline's uploader
	os.MkdirAll(filepath.Join(dir, ".uploads"), 0o750)
	if err := recorder.WriteJSON(filepath.Join(dir, ".uploads", old.ID+".json"),
		map[string]any{"event": old, "files": s3store.Files(old)}); err != nil {
		t.Fatal(err)
	}
	stray := finished(t, dir) // finished, its event lost to a crash
	strayChunk := stray.Data.RecordingStorageInfo.RecordingChunks[0].DocumentID

	h, url := newHook(t, 0)
	a := &AfterCall{SpoolDir: filepath.Join(dir, ".events"), Upload: up, Webhooks: Webhooks{URLs: []string{url}}, MaxBackoff: 200 * time.Millisecond}
	startNotifier(t, a)
	waitEmpty(t, a)
	if id := <-h.delivered; id != old.ID {
		t.Fatalf("delivered %q, want the old spool's %q", id, old.ID)
	}
	for _, name := range []string{old.Data.RecordingStorageInfo.RecordingChunks[0].DocumentID + ".wav", strayChunk + ".wav", strayChunk + ".json"} {
		if !inBucket(m, name) {
			t.Fatalf("%s is not in the bucket", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".uploads", old.ID+".json")); !os.IsNotExist(err) {
		t.Fatalf("the old spool's job is still there: %v", err)
	}

	m.Stop()
	ev := finished(t, dir)
	if err := a.Publish(ev); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for up.Stats().Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no upload was tried while the store was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := a.Stats(); st.Uploading != 1 || st.Notifying != 0 {
		t.Fatalf("while the store is down: %+v, want 1 waiting for the store, none for the webhooks", st)
	}
	select {
	case id := <-h.delivered:
		t.Fatalf("event %s went out before its recording reached the store", id)
	default:
	}
	m.Start(t)
	waitEmpty(t, a)
	if id := <-h.delivered; id != ev.ID {
		t.Fatalf("delivered %q, want %q", id, ev.ID)
	}
	if !inBucket(m, ev.Data.RecordingStorageInfo.RecordingChunks[0].DocumentID+".wav") {
		t.Fatal("the event went out, its audio is not in the bucket")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".events", "*.json")); len(left) != 0 {
		t.Fatalf("the spool still holds %v", left)
	}
}
