package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors of Delete.
var (
	ErrNotFound   = errors.New("recording not found")
	ErrInProgress = errors.New("recording in progress")
)

// Delete erases a finished recording chunk (audio and metadata); one still
// being recorded is ErrInProgress.
func Delete(ctx context.Context, st Store, documentID string) error {
	md, _, err := st.Metadata(ctx, documentID)
	if err != nil {
		return err
	}
	if md.EndReason == "" {
		return ErrInProgress
	}
	return st.Delete(ctx, documentID)
}

func readMetadata(path string) (Metadata, error) {
	var md Metadata
	err := ReadJSON(path, &md)
	return md, err
}

// Sweep deletes the finished recordings in st that ended more than maxAge
// before now, and returns their document ids. Recordings in progress are
// never touched.
func Sweep(ctx context.Context, st Store, maxAge time.Duration, now time.Time) ([]string, error) {
	ids, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, id := range ids {
		md, _, err := st.Metadata(ctx, id)
		if err != nil || md.EndReason == "" {
			continue
		}
		end, err := time.Parse(time.RFC3339Nano, md.ChunkEndTime)
		if err != nil || now.Sub(end) <= maxAge {
			continue
		}
		if err := Delete(ctx, st, id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		deleted = append(deleted, id)
	}
	return deleted, errors.Join(errs...)
}

// Retain sweeps st every interval until ctx ends, logging each deletion.
func Retain(ctx context.Context, st Store, maxAge, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		deleted, err := Sweep(ctx, st, maxAge, time.Now())
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
