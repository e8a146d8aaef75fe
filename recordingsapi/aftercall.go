package recordingsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/retry"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store"
)

// AfterCall takes each finished recording (its chunks final, its manifest
// signed: the recorder's file-ready event) to where it goes, at least once
// and across restarts: its files into the bucket when there is one
// (Upload), then its file-ready event to every webhook. Each recording is
// one job in the spool before anything is sent, and leaves it once every
// step took it. One loop works the spool with one retry policy: 1 s,
// doubling while a pass fails, at most MaxBackoff. A store that is down
// holds back the events of the recordings it has not taken (their URLs
// would not serve them from every node), never the others'.
type AfterCall struct {
	SpoolDir string            // <recordings-dir>/.events
	Upload   *s3store.Uploader // nil: recordings stay in the recordings directory
	Webhooks Webhooks          // where events go; none: no webhooks
	Logger   *slog.Logger      // default slog.Default()
	// MaxBackoff caps the retry interval; default 30 s.
	MaxBackoff time.Duration

	mu   sync.Mutex // job files, and the queue counts
	wake chan struct{}
	wg   sync.WaitGroup

	validated map[string]bool // URLs that passed the handshake; owned by the loop

	uploading, notifying int64 // jobs with files to upload; with only webhooks left (under mu)
	queued               atomic.Int64
	delivered, failures  atomic.Uint64 // webhook posts, by outcome
}

// job is one recording (or, with a store, a stray chunk found at start)
// in the spool. Its steps run in order; each step's field empties as it
// is done.
type job struct {
	// Event goes to the webhooks once Files are up (nil for a stray chunk).
	Event *recorder.FileReadyEvent `json:"event,omitempty"`
	// Files are names in the recordings directory still to upload, in order.
	Files []string `json:"files,omitempty"`
	// Remaining are the webhook URLs that have not taken the event.
	Remaining []string `json:"remaining,omitempty"`
}

// AfterCallStats are the pipeline's counters.
type AfterCallStats struct {
	Uploading int64  // recordings waiting for the store
	Notifying int64  // events uploaded (or with no store) not yet taken by every webhook
	Delivered uint64 // webhook posts taken (2xx)
	Failures  uint64 // webhook posts that failed and will be retried
}

// Stats reads the counters.
func (a *AfterCall) Stats() AfterCallStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AfterCallStats{Uploading: a.uploading, Notifying: a.notifying, Delivered: a.delivered.Load(), Failures: a.failures.Load()}
}

// count moves a job between the queue counts: d is +1 when it joins, -1
// when it leaves (a.mu held).
func (a *AfterCall) count(j job, d int64) {
	switch {
	case len(j.Files) > 0:
		a.uploading += d
	case len(j.Remaining) > 0:
		a.notifying += d
	}
	a.queued.Add(d)
}

// Init makes the spool; Publish works from then on, Start delivers. It
// takes over what an older botline left in <recordings-dir>/.uploads (a
// spool of its own then), so nothing it held is lost.
func (a *AfterCall) Init() error {
	if err := os.MkdirAll(a.SpoolDir, 0o750); err != nil {
		return fmt.Errorf("after-call spool: %w", err)
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	if a.MaxBackoff == 0 {
		a.MaxBackoff = 30 * time.Second
	}
	a.wake = make(chan struct{}, 1)
	a.validated = map[string]bool{}
	if b, err := os.ReadFile(a.statePath()); err == nil {
		var urls []string
		json.Unmarshal(b, &urls)
		for _, u := range urls {
			a.validated[u] = true
		}
	}
	return a.adoptOldUploads()
}

// adoptOldUploads moves the jobs of the upload spool an older botline kept
// beside the event spool into this one.
func (a *AfterCall) adoptOldUploads() error {
	old := filepath.Join(filepath.Dir(a.SpoolDir), ".uploads")
	names, _ := filepath.Glob(filepath.Join(old, "*.json"))
	for _, n := range names {
		var j job
		if err := recorder.ReadJSON(n, &j); err != nil {
			a.Logger.Error("old upload spool: unreadable job left in place", "file", n, "err", err)
			continue
		}
		if j.Event != nil {
			j.Remaining = a.Webhooks.URLs
		}
		if err := recorder.WriteJSON(filepath.Join(a.SpoolDir, filepath.Base(n)), j); err != nil {
			return fmt.Errorf("after-call spool: %w", err)
		}
		os.Remove(n)
	}
	return nil
}

// Publish spools a finished recording: its files for the store (with
// one), its event for every webhook.
func (a *AfterCall) Publish(ev recorder.FileReadyEvent) error {
	j := job{Event: &ev, Remaining: a.Webhooks.URLs}
	if a.Upload != nil {
		j.Files = s3store.Files(ev)
	}
	if len(j.Files) == 0 && len(j.Remaining) == 0 {
		return nil // nowhere to go
	}
	return a.spool(ev.ID, j)
}

func (a *AfterCall) spool(name string, j job) error {
	path := filepath.Join(a.SpoolDir, name+".json")
	a.mu.Lock()
	var old job
	replaced := recorder.ReadJSON(path, &old) == nil
	err := recorder.WriteJSON(path, j)
	if err == nil {
		if replaced { // the same recording published again
			a.count(old, -1)
		}
		a.count(j, +1)
	}
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("after-call spool %s: %w", name, err)
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return nil
}

// Start counts the spool, adopts with a store the finished chunks no job
// names, and works the spool until ctx ends. Call it after the start-up
// repair has published what it repaired.
func (a *AfterCall) Start(ctx context.Context) error {
	jobs, _, err := a.jobs()
	if err != nil {
		return err
	}
	named := map[string]bool{}
	a.mu.Lock()
	a.uploading, a.notifying = 0, 0 // counted again from the disk: what Publish spooled before is there
	a.queued.Store(0)
	for _, j := range jobs {
		a.count(j, +1)
		for _, f := range j.Files {
			named[f] = true
		}
	}
	a.mu.Unlock()
	if a.Upload != nil {
		strays, err := a.Upload.Strays(ctx, func(f string) bool { return named[f] })
		if err != nil {
			return err
		}
		for _, files := range strays {
			if err := a.spool("chunk-"+filepath.Base(files[len(files)-1]), job{Files: files}); err != nil {
				return err
			}
		}
	}
	a.wg.Go(func() { a.loop(ctx) })
	return nil
}

// Wait returns when the loop has stopped (after ctx ended).
func (a *AfterCall) Wait() { a.wg.Wait() }

// WaitEmpty returns once every spooled recording went everywhere, or when
// ctx ends (its error then): a draining node lets its last recordings go
// before it stops.
func (a *AfterCall) WaitEmpty(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for a.queued.Load() > 0 {
		select {
		case a.wake <- struct{}{}: // try now rather than at the next backoff
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// jobs reads the spool, oldest first, with each job's path.
func (a *AfterCall) jobs() ([]job, []string, error) {
	names, err := filepath.Glob(filepath.Join(a.SpoolDir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	mod := make(map[string]time.Time, len(names))
	for _, n := range names {
		if st, err := os.Stat(n); err == nil {
			mod[n] = st.ModTime()
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		if !mod[names[i]].Equal(mod[names[j]]) {
			return mod[names[i]].Before(mod[names[j]])
		}
		return names[i] < names[j]
	})
	var jobs []job
	var paths []string
	for _, n := range names {
		var j job
		a.mu.Lock()
		err := recorder.ReadJSON(n, &j)
		a.mu.Unlock()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				a.Logger.Error("after-call spool: unreadable job left in place", "file", n, "err", err)
			}
			continue
		}
		jobs, paths = append(jobs, j), append(paths, n)
	}
	return jobs, paths, nil
}

// loop works the spool until ctx ends, saying once when the store goes
// away and once when it is back.
func (a *AfterCall) loop(ctx context.Context) {
	storeDown := false
	retry.Loop(ctx, a.wake, a.MaxBackoff, time.Hour, func() bool {
		failed, storeErr := a.pass(ctx)
		switch {
		case ctx.Err() != nil:
		case storeErr != nil && !storeDown:
			storeDown = true
			a.Logger.Warn("recording store unavailable: recordings stay on disk, uploads retried", "err", storeErr)
		case storeErr == nil && storeDown:
			storeDown = false
			a.Logger.Info("recording store available again: uploads resumed")
		}
		return failed
	})
}

// pass tries every job once: its upload (until the store fails once this
// pass: the next would fail the same way), then its webhooks. It reports
// whether anything failed, and the store's error.
func (a *AfterCall) pass(ctx context.Context) (failed bool, storeErr error) {
	jobs, paths, err := a.jobs()
	if err != nil {
		return true, nil
	}
	handshakes := map[string]error{} // this pass's, so a failing URL is asked once
	for i, j := range jobs {
		before := j
		if len(j.Files) > 0 {
			if storeErr != nil {
				failed = true
				continue
			}
			if storeErr = a.Upload.Upload(ctx, j.Files); storeErr != nil {
				failed = true
				continue
			}
			j.Files = nil
		}
		if j.Event != nil && len(j.Remaining) > 0 {
			if a.notify(ctx, &j, handshakes) {
				failed = true
			}
		}
		a.save(paths[i], before, j)
	}
	return failed, storeErr
}

// notify posts j's event to each of its remaining URLs (validated first
// with Handshake); those that took it leave j.Remaining. It reports a
// failure.
func (a *AfterCall) notify(ctx context.Context, j *job, handshakes map[string]error) (failed bool) {
	var left []string
	for _, url := range j.Remaining {
		if a.Webhooks.Handshake && !a.validated[url] {
			err, tried := handshakes[url]
			if !tried {
				err = a.handshake(ctx, url)
				handshakes[url] = err
			}
			if err != nil {
				if !tried {
					a.Logger.Warn("webhook did not answer the subscription validation; events wait for it", "url", url, "err", err)
				}
				left = append(left, url)
				failed = true
				continue
			}
		}
		if err := a.post(ctx, url, *j.Event); err != nil {
			a.Logger.Warn("file-ready event not delivered; will retry", "eventId", j.Event.ID, "url", url, "err", err)
			left = append(left, url)
			failed = true
			a.failures.Add(1)
			continue
		}
		a.delivered.Add(1)
		a.Logger.Info("file-ready event delivered", "eventId", j.Event.ID, "url", url)
	}
	j.Remaining = left
	return failed
}

// save writes what is left of a job, or removes it when nothing is.
func (a *AfterCall) save(path string, before, j job) {
	if len(before.Files) == len(j.Files) && len(before.Remaining) == len(j.Remaining) {
		return // nothing taken this pass
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(j.Files) == 0 && len(j.Remaining) == 0 {
		if err := os.Remove(path); err != nil {
			a.Logger.Error("after-call spool: finished job not removed; it will be done again", "file", path, "err", err)
			return
		}
	} else if err := recorder.WriteJSON(path, j); err != nil {
		a.Logger.Error("after-call spool: progress not saved; it will be done again", "file", path, "err", err)
		return
	}
	a.count(before, -1)
	if len(j.Files) > 0 || len(j.Remaining) > 0 {
		a.count(j, +1)
	}
}
