package recorder

import (
	"os"
	"testing"
)

// TestRepairAfterCrash abandons a recording mid-way (as a crash would: the
// last second unflushed, header sizes stale) and checks Repair leaves a
// valid WAV with the flushed audio, finalized metadata that verifies, and
// leaves finished recordings alone.
func TestRepairAfterCrash(t *testing.T) {
	dir := t.TempDir()
	fin := New(Config{Dir: dir})
	fin.Do(Start)
	fin.Do(Stop)

	r := New(Config{Dir: dir, CallID: "crashed"})
	info, _ := r.Do(Start)
	for range syncEvery*2 + 10 { // two syncs, then 10 frames left in the buffer
		r.WriteAudio(frame(1000), frame(0))
	}
	r.cur.wav.waitWritten() // what was synced reached the file (the disk goroutine ran)
	// The process dies here: no Stop, no Close.
	// Simulate a torn last write: half a sample after the synced data.
	f, _ := os.OpenFile(info.AudioPath, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0x12})
	f.Close()

	repaired, err := Repair(dir)
	if err != nil || len(repaired) != 1 || repaired[0].CallID != "crashed" {
		t.Fatalf("repaired %+v, %v", repaired, err)
	}
	md := repaired[0]
	if md.EndReason != EndServiceRestarted || md.ChunkDuration != 2000 || md.Sha256 == "" {
		t.Fatalf("metadata %+v", md)
	}
	if got := readWAV(t, info.AudioPath); len(got) != 2*syncEvery*160 || got[0] != 1000 {
		t.Fatalf("repaired WAV holds %d samples", len(got))
	}
	if checked, problems, _ := Verify(dir); checked != 2 || len(problems) != 0 {
		t.Fatalf("verify after repair: %d checked, %v", checked, problems)
	}
	if again, _ := Repair(dir); len(again) != 0 {
		t.Fatalf("second repair touched %d", len(again))
	}
}

// A crash can leave a WAV whose metadata never reached the disk (empty,
// torn, or missing): Repair rebuilds the metadata from the WAV, so the
// recording is finalized, verifiable, and can be downloaded and expired.
func TestRepairWithoutMetadata(t *testing.T) {
	for name, damage := range map[string]func(path string){
		"empty":   func(p string) { os.WriteFile(p, nil, 0o640) },
		"torn":    func(p string) { b, _ := os.ReadFile(p); os.WriteFile(p, b[:len(b)/2], 0o640) },
		"missing": func(p string) { os.Remove(p) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := New(Config{Dir: dir, Layout: LayoutUnmixed})
			info, _ := r.Do(Start)
			for range syncEvery + 10 {
				r.WriteAudio(frame(1000), frame(0))
			}
			r.cur.wav.waitWritten()
			damage(info.MetadataPath) // and the process dies
			repaired, err := Repair(dir)
			if err != nil || len(repaired) != 1 {
				t.Fatalf("repaired %d: %v", len(repaired), err)
			}
			md := repaired[0]
			if md.ChunkDocumentID != info.RecordingID || md.EndReason != EndServiceRestarted || md.ChunkDuration != 1000 ||
				md.RecordingInfo.AudioConfiguration.Channels != 2 || md.ChunkStartTime == "" {
				t.Fatalf("rebuilt metadata %+v", md)
			}
			if checked, problems, _ := Verify(dir); checked != 1 || len(problems) != 0 {
				t.Fatalf("verify after repair: %d checked, %v", checked, problems)
			}
		})
	}
}
