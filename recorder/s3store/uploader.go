package s3store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/botline/botline/internal/retry"
	"github.com/botline/botline/recorder"
)

// Uploader moves finished recordings from the recordings directory into the
// bucket. Each recording is a job in the spool (<dir>/.uploads) before
// anything is sent, so uploads go on after a restart; a failing store is
// retried with backoff. A file goes up in full, its size is checked, and
// only then is the local copy removed. A recording's file-ready event is
// handed to Next once every file of the recording is in the bucket, so its
// URLs (botline's download API, which reads the bucket) work from any node.
type Uploader struct {
	Store    *Store
	SpoolDir string
	Next     recorder.Publisher // the event, once its files are up (the webhook notifier); nil: none
	Logger   *slog.Logger
	// MaxBackoff caps the retry interval; default 10 s (a retry costs one
	// failed request, and recordings should not wait long once it is back).
	MaxBackoff time.Duration

	mu   sync.Mutex // job files
	wake chan struct{}
	wg   sync.WaitGroup

	queued             atomic.Int64 // jobs spooled, not done
	uploaded, failures atomic.Uint64
	bytes              atomic.Uint64
}

// job is one recording (or a stray chunk found at start-up) to upload.
type job struct {
	// Event goes to Next once every file is up (nil for a stray chunk).
	Event *recorder.FileReadyEvent `json:"event,omitempty"`
	// Files are names in the recordings directory, in upload order.
	Files []string `json:"files"`
}

// Stats are the uploader's counters.
type Stats struct {
	Queued   int64  // recordings waiting to be uploaded
	Uploaded uint64 // files uploaded
	Failures uint64 // attempts that failed and will be retried
	Bytes    uint64 // bytes uploaded
}

// Stats reads the counters.
func (u *Uploader) Stats() Stats {
	return Stats{Queued: u.queued.Load(), Uploaded: u.uploaded.Load(), Failures: u.failures.Load(), Bytes: u.bytes.Load()}
}

func (u *Uploader) dir() string { return u.Store.Local.Dir }

// Init makes the spool; Publish works from then on, Start uploads.
func (u *Uploader) Init() error {
	if err := os.MkdirAll(u.SpoolDir, 0o750); err != nil {
		return fmt.Errorf("upload spool: %w", err)
	}
	if u.Logger == nil {
		u.Logger = slog.Default()
	}
	if u.MaxBackoff == 0 {
		u.MaxBackoff = 10 * time.Second
	}
	u.wake = make(chan struct{}, 1)
	return nil
}

// Publish spools a finished recording (the chunks its event names, with its
// manifest and transcript) for upload; the event follows the files.
func (u *Uploader) Publish(ev recorder.FileReadyEvent) error {
	j := job{Event: &ev, Files: recorder.RecordingFiles(ev.ID)}
	for _, c := range ev.Data.RecordingStorageInfo.RecordingChunks {
		j.Files = append(j.Files, recorder.ChunkFiles(c.DocumentID)...)
	}
	return u.spool(ev.ID, j)
}

func (u *Uploader) spool(name string, j job) error {
	u.mu.Lock()
	path := filepath.Join(u.SpoolDir, name+".json")
	_, statErr := os.Stat(path)
	err := recorder.WriteJSON(path, j)
	u.mu.Unlock()
	if err != nil {
		return fmt.Errorf("upload spool: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		u.queued.Add(1)
	}
	select {
	case u.wake <- struct{}{}:
	default:
	}
	return nil
}

// Start adopts finished chunks no job names (a recording's earlier chunks
// when a crash ended it, say), then uploads until ctx ends. Call it after
// the start-up repair has published what it repaired.
func (u *Uploader) Start(ctx context.Context) error {
	jobs, err := u.jobs()
	if err != nil {
		return err
	}
	named := map[string]bool{}
	for _, j := range jobs {
		for _, f := range j.Files {
			named[f] = true
		}
	}
	u.queued.Store(int64(len(jobs)))
	ids, err := u.Store.Local.List(ctx)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	for _, id := range ids {
		md, _, err := u.Store.Local.Metadata(ctx, id)
		if err != nil || md.EndReason == "" || named[id+".json"] {
			continue
		}
		j := job{Files: recorder.ChunkFiles(id)}
		if md.LastChunk() {
			j.Files = append(recorder.RecordingFiles(md.RecordingID), j.Files...)
		}
		u.Logger.Info("finished chunk not yet in the bucket: uploading", "documentId", id, "recordingId", md.RecordingID)
		if err := u.spool("chunk-"+id, j); err != nil {
			return err
		}
	}
	u.wg.Go(func() { u.loop(ctx) })
	return nil
}

// Wait returns when the upload loop has stopped (after ctx ended).
func (u *Uploader) Wait() { u.wg.Wait() }

// WaitEmpty returns once every spooled recording is in the bucket, or when
// ctx ends (its error then): a draining node uploads its last recordings
// before it stops.
func (u *Uploader) WaitEmpty(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for u.queued.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// jobNames lists the spool, oldest first.
func (u *Uploader) jobNames() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(u.SpoolDir, "*.json"))
	if err != nil {
		return nil, err
	}
	mod := make(map[string]time.Time, len(names))
	for _, n := range names {
		if st, err := os.Stat(n); err == nil {
			mod[n] = st.ModTime()
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return mod[names[i]].Before(mod[names[j]]) })
	return names, nil
}

func (u *Uploader) jobs() ([]job, error) {
	names, err := u.jobNames()
	if err != nil {
		return nil, err
	}
	jobs := make([]job, 0, len(names))
	for _, n := range names {
		var j job
		if err := recorder.ReadJSON(n, &j); err != nil {
			u.Logger.Error("upload spool: unreadable job left in place", "file", n, "err", err)
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// loop uploads until ctx ends, saying once when the store goes away and
// once when it is back.
func (u *Uploader) loop(ctx context.Context) {
	failing := false
	retry.Loop(ctx, u.wake, u.MaxBackoff, time.Hour, func() bool {
		err := u.runAll(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			u.Logger.Warn("recording store unavailable: recordings stay on disk, uploads retried", "err", err)
		case err != nil:
			u.Logger.Debug("recording store still unavailable", "err", err)
		case failing:
			failing = false
			u.Logger.Info("recording store available again: uploads resumed")
		}
		return err != nil
	})
}

// runAll works through the spool; it stops at the first failure, which is
// the store's (the next job would fail the same way).
func (u *Uploader) runAll(ctx context.Context) error {
	names, err := u.jobNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := u.run(ctx, n); err != nil {
			u.failures.Add(1)
			return err
		}
	}
	return nil
}

// run uploads one job's files, hands its event on, then removes the job
// and the local files.
func (u *Uploader) run(ctx context.Context, path string) error {
	var j job
	if err := recorder.ReadJSON(path, &j); err != nil {
		return fmt.Errorf("upload spool %s: %w", filepath.Base(path), err)
	}
	for _, name := range j.Files {
		if err := u.put(ctx, name); err != nil {
			return err
		}
	}
	if j.Event != nil && u.Next != nil {
		if err := u.Next.Publish(*j.Event); err != nil {
			return err
		}
	}
	u.mu.Lock()
	err := os.Remove(path)
	u.mu.Unlock()
	if err != nil {
		return fmt.Errorf("upload spool: %w", err)
	}
	u.queued.Add(-1)
	for _, name := range j.Files {
		if err := os.Remove(filepath.Join(u.dir(), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.Logger.Warn("uploaded file not removed from disk", "file", name, "err", err)
		}
	}
	return nil
}

// put uploads one file of the recordings directory, unless it is not there
// (a name a recording may have but this one has not, or one a crash after
// the upload already removed). Audio is checked against the hash its
// metadata holds before it leaves, and the object's size after.
func (u *Uploader) put(ctx context.Context, name string) error {
	path := filepath.Join(u.dir(), name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	if doc, ok := audioOf(name); ok {
		u.checkHash(ctx, doc, name, path)
	}
	key := u.Store.Bucket.Key(name)
	_, err = u.Store.Bucket.Client.PutObject(ctx, u.Store.Bucket.Name, key, f, st.Size(),
		minio.PutObjectOptions{ContentType: contentType(name), SendContentMd5: true})
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	info, err := u.Store.Bucket.Client.StatObject(ctx, u.Store.Bucket.Name, key, minio.StatObjectOptions{})
	if err != nil {
		return fmt.Errorf("upload %s: confirm: %w", name, err)
	}
	if info.Size != st.Size() {
		return fmt.Errorf("upload %s: the bucket holds %d bytes of %d", name, info.Size, st.Size())
	}
	u.uploaded.Add(1)
	u.bytes.Add(uint64(st.Size()))
	return nil
}

// checkHash logs a chunk whose audio no longer matches the sha256 in its
// metadata. It is uploaded all the same (losing it would be worse), and
// `botline verify` shows it; the log says so at once.
func (u *Uploader) checkHash(ctx context.Context, doc, name, path string) {
	md, _, err := u.Store.Local.Metadata(ctx, doc)
	if err != nil || md.Sha256 == "" {
		return
	}
	if sum, err := recorder.FileSHA256(path); err == nil && sum != md.Sha256 {
		u.Logger.Error("audio does not match the sha256 of its metadata: uploaded as it is", "file", name, "sha256", sum, "metadataSha256", md.Sha256)
	}
}

// audioOf returns the document id of an audio file's name.
func audioOf(name string) (string, bool) {
	doc, ok := strings.CutSuffix(strings.TrimSuffix(name, recorder.EncryptedExt), ".wav")
	return doc, ok && recorder.ValidDocumentID(doc)
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, recorder.EncryptedExt):
		return "application/octet-stream"
	case strings.HasSuffix(name, ".wav"):
		return "audio/wav"
	}
	return "application/json"
}
