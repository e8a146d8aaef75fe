package recorder

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestSweepAndDelete(t *testing.T) {
	dir := t.TempDir()
	ctx, st := context.Background(), LocalStore{Dir: dir}
	r := New(Config{Dir: dir})
	old, _ := r.Do(Start)
	r.Do(Stop)
	running, _ := r.Do(Start)
	defer r.Close(SessionEndCallEnded)

	if del, err := Sweep(ctx, st, time.Hour, time.Now()); err != nil || len(del) != 0 {
		t.Fatalf("young recordings swept: %v %v", del, err)
	}
	del, err := Sweep(ctx, st, time.Hour, time.Now().Add(2*time.Hour))
	if err != nil || len(del) != 1 || del[0] != old.RecordingID {
		t.Fatalf("swept %v, %v; want only %s", del, err, old.RecordingID)
	}
	for _, p := range []string{old.AudioPath, old.MetadataPath} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there", p)
		}
	}
	if _, err := os.Stat(running.AudioPath); err != nil {
		t.Fatalf("running recording touched: %v", err)
	}
	if err := Delete(ctx, st, running.RecordingID); !errors.Is(err, ErrInProgress) {
		t.Fatalf("delete running: %v", err)
	}
	if err := Delete(ctx, st, old.RecordingID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := Delete(ctx, st, "../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete path trick: %v", err)
	}
}
