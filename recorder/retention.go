package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Errors of Delete.
var (
	ErrNotFound   = errors.New("recording not found")
	ErrInProgress = errors.New("recording in progress")
)

// Delete erases a finished recording: its audio and its metadata.
func Delete(dir, documentID string) error {
	if !ValidDocumentID(documentID) {
		return ErrNotFound
	}
	base := filepath.Join(dir, documentID)
	md, err := readMetadata(base + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if md.EndReason == "" {
		return ErrInProgress
	}
	if err := os.Remove(base + ".wav"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete audio: %w", err)
	}
	if err := os.Remove(base + ".json"); err != nil {
		return fmt.Errorf("delete metadata: %w", err)
	}
	return nil
}

func readMetadata(path string) (Metadata, error) {
	var md Metadata
	b, err := os.ReadFile(path)
	if err != nil {
		return md, err
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return md, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return md, nil
}

// Sweep deletes the finished recordings in dir that ended more than maxAge
// before now, and returns their document ids. Recordings in progress are
// never touched.
func Sweep(dir string, maxAge time.Duration, now time.Time) ([]string, error) {
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, mp := range metas {
		md, err := readMetadata(mp)
		if err != nil || md.EndReason == "" {
			continue
		}
		end, err := time.Parse(time.RFC3339Nano, md.ChunkEndTime)
		if err != nil {
			st, serr := os.Stat(mp)
			if serr != nil {
				continue
			}
			end = st.ModTime()
		}
		if now.Sub(end) <= maxAge {
			continue
		}
		id := strings.TrimSuffix(filepath.Base(mp), ".json")
		if err := Delete(dir, id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		deleted = append(deleted, id)
	}
	return deleted, errors.Join(errs...)
}

// Retain sweeps dir every interval until ctx ends, logging each deletion.
func Retain(ctx context.Context, dir string, maxAge, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		deleted, err := Sweep(dir, maxAge, time.Now())
		for _, id := range deleted {
			log.Info("retention: recording deleted", "documentId", id, "retention", maxAge.String())
		}
		if err != nil {
			log.Error("retention sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
