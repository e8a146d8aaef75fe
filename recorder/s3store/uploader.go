package s3store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/botline/botline/recorder"
)

// Uploader moves finished recordings' files from the recordings directory
// into the bucket: each file goes up whole and its size is checked, audio
// is checked against the hash its metadata holds, and only once every file
// of a recording is up are the local copies removed. It keeps no queue of
// its own: the after-call pipeline (recordingsapi.AfterCall) spools each
// recording and calls Upload until it succeeds.
type Uploader struct {
	Store  *Store
	Logger *slog.Logger

	uploaded, failures atomic.Uint64
	bytes              atomic.Uint64
}

// UploadStats are the uploader's counters.
type UploadStats struct {
	Uploaded uint64 // files uploaded
	Failures uint64 // Upload calls that failed (and are retried)
	Bytes    uint64 // bytes uploaded
}

// Stats reads the counters.
func (u *Uploader) Stats() UploadStats {
	return UploadStats{Uploaded: u.uploaded.Load(), Failures: u.failures.Load(), Bytes: u.bytes.Load()}
}

func (u *Uploader) dir() string { return u.Store.Local.Dir }

func (u *Uploader) logger() *slog.Logger {
	if u.Logger == nil {
		return slog.Default()
	}
	return u.Logger
}

// Files names the files of a finished recording, in upload order: its
// manifest and transcript, then each chunk's audio and metadata (the
// plain metadata last, so a listing of the bucket never shows a chunk
// whose audio is not there).
func Files(ev recorder.FileReadyEvent) []string {
	files := recorder.RecordingFiles(ev.ID)
	for _, c := range ev.Data.RecordingStorageInfo.RecordingChunks {
		files = append(files, recorder.ChunkFiles(c.DocumentID)...)
	}
	return files
}

// Upload puts files (names in the recordings directory; a missing one is
// skipped: a name a recording may have but this one has not, or one a
// crash after its upload already removed) into the bucket, in order, then
// removes the local copies. On error nothing is removed: call it again.
func (u *Uploader) Upload(ctx context.Context, files []string) error {
	for _, name := range files {
		if err := u.put(ctx, name); err != nil {
			u.failures.Add(1)
			return err
		}
	}
	for _, name := range files {
		if err := os.Remove(filepath.Join(u.dir(), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.logger().Warn("uploaded file not removed from disk", "file", name, "err", err)
		}
	}
	return nil
}

// Strays finds the finished chunks in the recordings directory that named
// does not know of (a recording's earlier chunks when a crash ended it,
// say): the files to upload for each, with its recording's manifest and
// transcript when it is the last chunk.
func (u *Uploader) Strays(ctx context.Context, named func(file string) bool) ([][]string, error) {
	ids, err := u.Store.Local.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	var out [][]string
	for _, id := range ids {
		md, _, err := u.Store.Local.Metadata(ctx, id)
		if err != nil || md.EndReason == "" || named(id+".json") {
			continue
		}
		files := recorder.ChunkFiles(id)
		if md.LastChunk() {
			files = append(recorder.RecordingFiles(md.RecordingID), files...)
		}
		u.logger().Info("finished chunk not yet in the bucket: uploading", "documentId", id, "recordingId", md.RecordingID)
		out = append(out, files)
	}
	return out, nil
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
		u.logger().Error("audio does not match the sha256 of its metadata: uploaded as it is", "file", name, "sha256", sum, "metadataSha256", md.Sha256)
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
