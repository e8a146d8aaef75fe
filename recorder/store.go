package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store keeps finished recordings by document id: the download, search,
// delete and retention code reads through it, and the recorder hands it each
// finalized chunk. LocalStore, the default, is the recordings directory
// itself; an object store (S3-compatible) would upload in Keep and read
// from the bucket, without changing the callers.
type Store interface {
	// Keep takes a finalized chunk written under the recorder's directory.
	Keep(ctx context.Context, md Metadata, audioPath, metadataPath string) error
	// Audio opens a chunk's audio (seekable, for Range) and its modification time.
	Audio(ctx context.Context, documentID string) (io.ReadSeekCloser, time.Time, error)
	// Metadata returns a chunk's metadata, parsed and as stored.
	Metadata(ctx context.Context, documentID string) (Metadata, []byte, error)
	// Delete removes a chunk's audio and metadata.
	Delete(ctx context.Context, documentID string) error
	// List returns the document ids of every chunk with metadata.
	List(ctx context.Context) ([]string, error)
	// Transcript returns the transcript of the recording whose id is
	// given (JSON), ErrNotFound when it has none.
	Transcript(ctx context.Context, recordingID string) ([]byte, error)
}

// LastChunk reports whether md is the finished last chunk of its
// recording: the one its manifest and transcript go with.
func (md Metadata) LastChunk() bool {
	return md.EndReason != "" && md.EndReason != EndChunkMax && ValidDocumentID(md.RecordingID)
}

// ChunkFiles names the files a chunk may have, document id first: audio
// (plain or encrypted), then metadata, the plain metadata last, so a store
// that copies them in this order shows a chunk (its JSON) only once the
// rest is there.
func ChunkFiles(documentID string) []string {
	return []string{documentID + ".wav", documentID + ".wav" + EncryptedExt, documentID + ".json" + EncryptedExt, documentID + ".json"}
}

// RecordingFiles names the files a recording may have beside its chunks,
// written with its last chunk: the signed manifest and the transcript.
func RecordingFiles(recordingID string) []string {
	return []string{recordingID + ManifestExt, recordingID + TranscriptExt, recordingID + TranscriptExt + EncryptedExt}
}

// LocalStore is a Store on the recordings directory. Missing ids are
// ErrNotFound; ids not shaped like botline's never touch the file system.
type LocalStore struct {
	Dir string
}

// Keep does nothing: the files are already in place.
func (LocalStore) Keep(context.Context, Metadata, string, string) error { return nil }

func (s LocalStore) path(id, ext string) (string, error) {
	if !ValidDocumentID(id) {
		return "", ErrNotFound
	}
	return filepath.Join(s.Dir, id+ext), nil
}

// Audio opens id's WAV file.
func (s LocalStore) Audio(_ context.Context, id string) (io.ReadSeekCloser, time.Time, error) {
	p, err := s.path(id, ".wav")
	if err != nil {
		return nil, time.Time{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) { // an encrypted chunk's
		f, err = os.Open(p + EncryptedExt)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, time.Time{}, err
	}
	return f, st.ModTime(), nil
}

// Metadata reads id's JSON file.
func (s LocalStore) Metadata(_ context.Context, id string) (Metadata, []byte, error) {
	var md Metadata
	p, err := s.path(id, ".json")
	if err != nil {
		return md, nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return md, nil, ErrNotFound
	}
	if err != nil {
		return md, nil, err
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return md, nil, fmt.Errorf("%s.json: %w", id, err)
	}
	return md, b, nil
}

// Delete removes id's audio and metadata; with a recording's last chunk,
// which retention deletes after the others, goes its signed manifest.
func (s LocalStore) Delete(ctx context.Context, id string) error {
	p, err := s.path(id, "")
	if err != nil {
		return err
	}
	if md, _, err := s.Metadata(ctx, id); err == nil && md.LastChunk() {
		for _, name := range RecordingFiles(md.RecordingID) {
			os.Remove(filepath.Join(s.Dir, name))
		}
	}
	files := ChunkFiles(id)
	for _, name := range files[:len(files)-1] {
		if err := os.Remove(filepath.Join(s.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	if err := os.Remove(p + ".json"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNotFound
		}
		return fmt.Errorf("delete metadata: %w", err)
	}
	return nil
}

// Transcript reads the transcript of the recording whose first chunk is id.
func (s LocalStore) Transcript(_ context.Context, id string) ([]byte, error) {
	p, err := s.path(id, TranscriptExt)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) { // encrypted: served as it is
		b, err = os.ReadFile(p + EncryptedExt)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// List returns the ids of the JSON files in the directory.
func (s LocalStore) List(context.Context) ([]string, error) {
	metas, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(metas))
	for _, m := range metas {
		if id := strings.TrimSuffix(filepath.Base(m), ".json"); ValidDocumentID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
