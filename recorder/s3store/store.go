package s3store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/botline/botline/recorder"
)

// maxMetadata bounds a metadata object read from the bucket.
const maxMetadata = 4 << 20

// Store is a recorder.Store on a bucket. The local recordings directory
// comes first: a chunk finished here is read from the disk until the
// Uploader has moved it into the bucket, so nothing disappears between the
// call's end and the upload.
type Store struct {
	Bucket *Bucket
	Local  recorder.LocalStore
}

// Keep does nothing: the Uploader takes a recording once all its chunks are
// final, with its file-ready event.
func (*Store) Keep(context.Context, recorder.Metadata, string, string) error { return nil }

// get opens an object; a missing one is recorder.ErrNotFound.
func (s *Store) get(ctx context.Context, name string) (*minio.Object, minio.ObjectInfo, error) {
	obj, err := s.Bucket.Client.GetObject(ctx, s.Bucket.Name, s.Bucket.Key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, fmt.Errorf("store get %s: %w", name, err)
	}
	st, err := obj.Stat() // the GET itself: 404 shows here
	if err != nil {
		obj.Close()
		if notFound(err) {
			return nil, st, recorder.ErrNotFound
		}
		return nil, st, fmt.Errorf("store get %s: %w", name, err)
	}
	return obj, st, nil
}

// Audio opens a chunk's audio; the object reads with ranged GETs where the
// download API seeks.
func (s *Store) Audio(ctx context.Context, id string) (io.ReadSeekCloser, time.Time, error) {
	f, mod, err := s.Local.Audio(ctx, id)
	if !errors.Is(err, recorder.ErrNotFound) || !recorder.ValidDocumentID(id) {
		return f, mod, err
	}
	for _, name := range recorder.ChunkFiles(id)[:2] { // plain, then encrypted
		obj, st, err := s.get(ctx, name)
		if errors.Is(err, recorder.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		return obj, st.LastModified, nil
	}
	return nil, time.Time{}, recorder.ErrNotFound
}

// read reads a small object whole.
func (s *Store) read(ctx context.Context, name string) ([]byte, error) {
	obj, _, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, maxMetadata))
	if err != nil {
		return nil, fmt.Errorf("store get %s: %w", name, err)
	}
	return b, nil
}

// Metadata reads a chunk's metadata.
func (s *Store) Metadata(ctx context.Context, id string) (recorder.Metadata, []byte, error) {
	md, b, err := s.Local.Metadata(ctx, id)
	if !errors.Is(err, recorder.ErrNotFound) || !recorder.ValidDocumentID(id) {
		return md, b, err
	}
	if b, err = s.read(ctx, id+".json"); err != nil {
		return md, nil, err
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return md, nil, fmt.Errorf("%s.json: %w", id, err)
	}
	return md, b, nil
}

// Transcript reads a recording's transcript.
func (s *Store) Transcript(ctx context.Context, id string) ([]byte, error) {
	b, err := s.Local.Transcript(ctx, id)
	if !errors.Is(err, recorder.ErrNotFound) || !recorder.ValidDocumentID(id) {
		return b, err
	}
	names := recorder.RecordingFiles(id)[1:] // plain, then encrypted
	for _, name := range names {
		if b, err = s.read(ctx, name); !errors.Is(err, recorder.ErrNotFound) {
			return b, err
		}
	}
	return nil, recorder.ErrNotFound
}

// Delete removes a chunk from the disk and from the bucket (with the last
// chunk go the recording's manifest and transcript).
func (s *Store) Delete(ctx context.Context, id string) error {
	md, _, err := s.Metadata(ctx, id)
	if err != nil {
		return err
	}
	localErr := s.Local.Delete(ctx, id)
	if localErr != nil && !errors.Is(localErr, recorder.ErrNotFound) {
		return localErr
	}
	names := recorder.ChunkFiles(id)
	if md.LastChunk() {
		names = append(recorder.RecordingFiles(md.RecordingID), names...)
	}
	for _, name := range names { // the JSON last: a failure leaves the chunk listed
		err := s.Bucket.Client.RemoveObject(ctx, s.Bucket.Name, s.Bucket.Key(name), minio.RemoveObjectOptions{})
		if err != nil && !notFound(err) {
			return fmt.Errorf("store delete %s: %w", name, err)
		}
	}
	return nil
}

// List returns the chunks on the disk and in the bucket.
func (s *Store) List(ctx context.Context) ([]string, error) {
	ids, err := s.Local.List(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for obj := range s.Bucket.Client.ListObjects(ctx, s.Bucket.Name, minio.ListObjectsOptions{Prefix: s.Bucket.Prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("store list: %w", obj.Err)
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, s.Bucket.Prefix), ".json")
		if ok && recorder.ValidDocumentID(id) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}
