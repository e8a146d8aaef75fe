package recorder

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/go-audio/wav"
)

// fakeClock advances only when told, so pause intervals are exact.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func frame(v int16) []int16 {
	f := make([]int16, 160)
	for i := range f {
		f[i] = v
	}
	return f
}

func readWAV(t *testing.T, path string) []int {
	t.Helper()
	rate, ch, data := readWAVFormat(t, path)
	if rate != 8000 || ch != 1 {
		t.Fatalf("format %d Hz %d ch", rate, ch)
	}
	return data
}

// TestPauseResumeAppendsToSameFile checks that paused audio is absent, the
// file is one valid WAV after stop, and the metadata lists the pause.
func TestPauseResumeAppendsToSameFile(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	r := New(Config{Dir: dir, CallID: "call-1", ConversationID: "conv", Participants: []string{"+1425", "bot"}, Now: clk.now})
	silence := frame(0)

	info, err := r.Do(Start)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r.WriteAudio(frame(100), silence)
	}
	clk.t = clk.t.Add(200 * time.Millisecond)
	if _, err := r.Do(Pause); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		r.WriteAudio(frame(999), silence) // must not land
	}
	clk.t = clk.t.Add(500 * time.Millisecond)
	if _, err := r.Do(Resume); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r.WriteAudio(frame(200), frame(50)) // mixed: 250
	}
	stopInfo, err := r.Do(Stop)
	if err != nil {
		t.Fatal(err)
	}
	if stopInfo.RecordingID != info.RecordingID {
		t.Fatalf("stop acted on %s, started %s", stopInfo.RecordingID, info.RecordingID)
	}

	data := readWAV(t, info.AudioPath)
	if len(data) != 15*160 {
		t.Fatalf("samples = %d, want %d", len(data), 15*160)
	}
	for i, v := range data {
		want := 100
		if i >= 10*160 {
			want = 250
		}
		if v != want {
			t.Fatalf("sample %d = %d, want %d", i, v, want)
		}
	}

	var md Metadata
	b, err := os.ReadFile(info.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	if md.ChunkDuration != 300 || md.EndReason != EndSessionEnded || md.CallID != "call-1" {
		t.Fatalf("metadata %+v", md)
	}
	if len(md.PauseResumeIntervals) != 1 || md.PauseResumeIntervals[0].Duration != 500 ||
		md.PauseResumeIntervals[0].StartTime != "2026-01-01T10:00:00.200Z" {
		t.Fatalf("pause intervals %+v", md.PauseResumeIntervals)
	}
	if md.RecordingInfo.AudioConfiguration.SampleRate != "8000" || len(md.Participants) != 2 {
		t.Fatalf("recordingInfo/participants %+v %+v", md.RecordingInfo, md.Participants)
	}
}

// TestStopThenStartMakesNewFile checks that stop then start opens a new
// recording and that Close finalizes a paused one.
func TestStopThenStartMakesNewFile(t *testing.T) {
	dir := t.TempDir()
	r := New(Config{Dir: dir})
	a, _ := r.Do(Start)
	r.WriteAudio(frame(1), frame(0))
	r.Do(Stop)
	b, _ := r.Do(Start)
	r.WriteAudio(frame(2), frame(0))
	r.Do(Pause)
	if a.RecordingID == b.RecordingID {
		t.Fatal("same recording id after stop/start")
	}
	info, had, err := r.Close(SessionEndCallEnded)
	if !had || err != nil || info.RecordingID != b.RecordingID {
		t.Fatalf("Close = %v %v %v", info, had, err)
	}
	if got := readWAV(t, b.AudioPath); len(got) != 160 || got[0] != 2 {
		t.Fatalf("second file: %d samples", len(got))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
}

// TestSyncedFileIsValidWhileRecording checks that a file being written is a
// valid WAV after each periodic sync (what a crash would leave).
func TestSyncedFileIsValidWhileRecording(t *testing.T) {
	r := New(Config{Dir: t.TempDir()})
	info, _ := r.Do(Start)
	for i := 0; i < syncEvery; i++ {
		r.WriteAudio(frame(7), frame(0))
	}
	r.cur.wav.waitWritten() // the disk goroutine writes what a sync queued
	if got := readWAV(t, info.AudioPath); len(got) != syncEvery*160 {
		t.Fatalf("synced samples = %d", len(got))
	}
	r.Close(SessionEndCallEnded)
}

// BenchmarkWriteAudio measures the recorder's per-frame cost (mix + buffered
// WAV write).
func BenchmarkWriteAudio(b *testing.B) {
	r := New(Config{Dir: b.TempDir()})
	r.Do(Start)
	in, out := frame(100), frame(0)
	b.ReportAllocs()
	for b.Loop() {
		r.WriteAudio(in, out)
	}
	r.Close(SessionEndCallEnded)
}

// BenchmarkPauseResume measures one pause plus one resume (each rewrites
// the metadata and syncs the WAV), in recordings of up to 10 pauses.
func BenchmarkPauseResume(b *testing.B) {
	r := New(Config{Dir: b.TempDir()})
	r.Do(Start)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i++; i%10 == 0 {
			b.StopTimer()
			r.Do(Stop)
			r.Do(Start)
			b.StartTimer()
		}
		r.Do(Pause)
		r.Do(Resume)
	}
	r.Close(SessionEndCallEnded)
}

func readWAVFormat(t *testing.T, path string) (rate, channels int, data []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	buf, err := d.FullPCMBuffer()
	if err != nil || !d.IsValidFile() {
		t.Fatalf("%s: %v", path, err)
	}
	return int(d.SampleRate), int(d.NumChans), buf.Data
}

// TestUnmixedStereo checks the caller lands on the left and what the
// gateway plays on the right, at 8 kHz (sample-exact) and 16 kHz.
func TestUnmixedStereo(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		r := New(Config{Dir: t.TempDir(), SampleRate: rate})
		info, err := r.Start(LayoutUnmixed)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			r.WriteAudio(frame(1200), frame(-300))
		}
		r.Do(Stop)
		gotRate, ch, data := readWAVFormat(t, info.AudioPath)
		if gotRate != rate || ch != 2 || len(data) != 20*160*2*rate/8000 {
			t.Fatalf("%d Hz: file %d Hz, %d channels, %d samples", rate, gotRate, ch, len(data))
		}
		// Past the filter's start-up, left = caller, right = played.
		for i := len(data) / 2; i < len(data); i += 2 {
			if data[i] != 1200 || data[i+1] != -300 {
				t.Fatalf("%d Hz: frame %d = (%d, %d), want (1200, -300)", rate, i/2, data[i], data[i+1])
			}
		}
		md := readMD(t, info.MetadataPath)
		if md.RecordingInfo.ContentType != "unmixed" || md.RecordingInfo.AudioConfiguration.Channels != 2 ||
			md.RecordingInfo.AudioConfiguration.BitRate != rate*32 {
			t.Fatalf("%d Hz metadata %+v", rate, md.RecordingInfo)
		}
	}
	if _, err := New(Config{Dir: t.TempDir()}).Start("surround"); err == nil {
		t.Fatal("unknown layout accepted")
	}
}

func readMD(t *testing.T, path string) Metadata {
	t.Helper()
	md, err := readMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// TestChunkRollover: past the chunk bound a recording continues in a new
// file; each chunk is a valid WAV with its own metadata, and the session's
// chunks are reported in order when it ends.
func TestChunkRollover(t *testing.T) {
	dir := t.TempDir()
	var got []Metadata
	kept := &keepingStore{LocalStore: LocalStore{Dir: dir}}
	r := New(Config{Dir: dir, ChunkMax: 200 * time.Millisecond, Store: kept, OnFinish: func(c []Metadata, _ SessionEnd) { got = c }})
	info, _ := r.Do(Start)
	for i := range 25 {
		r.WriteAudio(frame(int16(i)), frame(0))
	}
	r.Do(Stop)
	if len(got) != 3 {
		t.Fatalf("%d chunks, want 3", len(got))
	}
	seen := map[string]bool{}
	for i, md := range got {
		wantFrames, wantEnd := 10, EndChunkMax
		if i == 2 {
			wantFrames, wantEnd = 5, EndSessionEnded
		}
		if md.ChunkIndex != i || md.RecordingID != info.RecordingID || md.EndReason != wantEnd || md.Sha256 == "" || seen[md.ChunkDocumentID] {
			t.Fatalf("chunk %d: %+v", i, md)
		}
		seen[md.ChunkDocumentID] = true
		data := readWAV(t, dir+"/"+md.ChunkDocumentID+".wav")
		if len(data) != wantFrames*160 || data[0] != i*10 {
			t.Fatalf("chunk %d: %d samples starting %d", i, len(data), data[0])
		}
		if md.ChunkDuration != float64(wantFrames*20) {
			t.Fatalf("chunk %d duration %v", i, md.ChunkDuration)
		}
	}
	if len(kept.kept) != 3 {
		t.Fatalf("the store was handed %d chunks, want 3", len(kept.kept))
	}
	if got[0].ChunkDocumentID != info.RecordingID {
		t.Fatalf("first chunk's document id %s, recording %s", got[0].ChunkDocumentID, info.RecordingID)
	}
	if checked, problems, _ := Verify(dir); checked != 3 || len(problems) != 0 {
		t.Fatalf("verify: %d checked, %v", checked, problems)
	}
}

// keepingStore records what the recorder hands its store.
type keepingStore struct {
	LocalStore
	mu   sync.Mutex
	kept []string
}

func (k *keepingStore) Keep(_ context.Context, md Metadata, audio, _ string) error {
	if _, err := os.Stat(audio); err != nil || md.Sha256 == "" || md.EndReason == "" {
		return fmt.Errorf("chunk %s handed over unfinished", md.ChunkDocumentID)
	}
	k.mu.Lock()
	k.kept = append(k.kept, md.ChunkDocumentID)
	k.mu.Unlock()
	return nil
}

// Stopping a recording hashes its file without the recorder's lock: while
// the hash runs, the media path writes frames without waiting (they are
// dropped: the recording is stopped), and the stop returns once the hash
// and the metadata are final.
func TestStopHashesOffTheMediaPath(t *testing.T) {
	hashing, release := make(chan struct{}), make(chan struct{})
	defer func(h func(string) (string, error)) { hashFile = h }(hashFile)
	hashFile = func(path string) (string, error) {
		close(hashing)
		<-release
		return FileSHA256(path)
	}
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	r := New(Config{Dir: t.TempDir(), CallID: "call"})
	if _, err := r.Do(Start); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		r.WriteAudio(frame(300), frame(0))
	}
	stopped := make(chan Info)
	go func() {
		info, _ := r.Do(Stop)
		stopped <- info
	}()
	<-hashing
	wrote := make(chan struct{})
	go func() {
		r.WriteAudio(frame(300), frame(0))
		r.State()
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("the media path waited for the stop's hash")
	}
	close(release)
	info := <-stopped
	md := readMetadataFile(t, info.MetadataPath)
	if sum, _ := FileSHA256(info.AudioPath); md.Sha256 != sum || md.ChunkDuration != 1000 {
		t.Errorf("metadata sha256 %q (file %q), duration %v", md.Sha256, sum, md.ChunkDuration)
	}
}

func readMetadataFile(t *testing.T, path string) Metadata {
	t.Helper()
	var md Metadata
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &md)
	}
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// fullDisk is a recording file on a disk that can fill up: while full,
// every write fails with ENOSPC, as on a full file system.
type fullDisk struct {
	*os.File
	full *atomic.Bool
}

func (f fullDisk) Write(b []byte) (int, error) {
	if f.full.Load() {
		return 0, syscall.ENOSPC
	}
	return f.File.Write(b)
}

func (f fullDisk) WriteAt(b []byte, off int64) (int, error) {
	if f.full.Load() {
		return 0, syscall.ENOSPC
	}
	return f.File.WriteAt(b, off)
}

// A disk that fills mid-recording: the failure is reported once, a pause
// still takes effect, writing resumes when space returns, and the stopped
// file is consistent (header, data and metadata agree) and ends as
// RecordingFailed.
func TestFullDisk(t *testing.T) {
	var full atomic.Bool
	defer func(c func(string) (wavFile, error)) { createFile = c }(createFile)
	createFile = func(path string) (wavFile, error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		return fullDisk{f, &full}, err
	}
	var failures []error
	var end SessionEnd
	r := New(Config{Dir: t.TempDir(), CallID: "call",
		OnFailed: func(_ Info, err error) { failures = append(failures, err) },
		OnFinish: func(_ []Metadata, e SessionEnd) { end = e }})
	if _, err := r.Do(Start); err != nil {
		t.Fatal(err)
	}
	for range 60 { // 50 frames synced, 10 buffered
		r.WriteAudio(frame(1000), frame(0))
	}
	r.cur.wav.waitWritten() // the synced frames reached the file before it filled
	full.Store(true)
	for range 200 { // the buffer fills and fails; every retry fails
		r.WriteAudio(frame(1000), frame(0))
	}
	if _, err := r.Do(Pause); err != nil || r.State() != Paused {
		t.Fatalf("pause on a full disk: %v, state %v", err, r.State())
	}
	if _, err := r.Do(Resume); err != nil || r.State() != Recording {
		t.Fatalf("resume on a full disk: %v, state %v", err, r.State())
	}
	if len(failures) != 1 || !errors.Is(failures[0], syscall.ENOSPC) {
		t.Fatalf("failures told: %v, want one ENOSPC", failures)
	}
	full.Store(false)
	for range 2 * syncEvery { // recovers within a second, then records
		r.WriteAudio(frame(2000), frame(0))
	}
	info, err := r.Do(Stop)
	if err != nil {
		t.Fatal(err)
	}
	samples := readWAV(t, info.AudioPath)
	if st, _ := os.Stat(info.AudioPath); st.Size() != int64(audio.HeaderSize+2*len(samples)) {
		t.Errorf("file of %d bytes, its header says %d samples", st.Size(), len(samples))
	}
	md := readMetadataFile(t, info.MetadataPath)
	if got := float64(len(samples)) / 8; md.ChunkDuration != got {
		t.Errorf("metadata says %v ms, the file holds %v ms", md.ChunkDuration, got)
	}
	if len(samples) < 50*160 || samples[0] != 1000 || samples[len(samples)-1] != 2000 {
		t.Errorf("file holds %d samples, first %d last %d: want the synced audio, then what came after space returned",
			len(samples), samples[0], samples[len(samples)-1])
	}
	if end != SessionEndRecordingFailed {
		t.Errorf("session ended %q, want RecordingFailed", end)
	}
}

// stalledDisk is a recording file on a disk that stops answering: every
// write waits until the disk is released.
type stalledDisk struct {
	*os.File
	stalled  *atomic.Bool
	released chan struct{}
}

func (f stalledDisk) Write(b []byte) (int, error) {
	if f.stalled.Load() {
		<-f.released
	}
	return f.File.Write(b)
}

// TestStalledDiskDoesNotHoldTheMediaClock: while the disk does not answer
// (writeback, a busy journal), WriteAudio, called on the media clock for
// every call of its shard, still returns; once the disk answers, the file
// holds every frame, in order.
func TestStalledDiskDoesNotHoldTheMediaClock(t *testing.T) {
	released := make(chan struct{})
	var stalled atomic.Bool
	defer func(c func(string) (wavFile, error)) { createFile = c }(createFile)
	createFile = func(path string) (wavFile, error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		return stalledDisk{f, &stalled, released}, err
	}
	r := New(Config{Dir: t.TempDir()})
	info, err := r.Do(Start)
	if err != nil {
		t.Fatal(err)
	}
	stalled.Store(true)
	returned := make(chan struct{})
	go func() {
		for i := range 5 * syncEvery { // 5 s of audio: 10 bufio flushes, 5 header patches
			r.WriteAudio(frame(int16(i)), frame(0))
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		close(released)
		t.Fatal("WriteAudio waited for a stalled disk")
	}
	// The stalled writes are queued, and /metrics says so. (Other
	// packages' tests do not run in this process: the queue is ours.)
	if q := Disk().Queued; q < 10 {
		t.Errorf("%d writes queued behind the stalled disk, want >= 10", q)
	}
	close(released) // the disk answers again
	if _, err := r.Do(Stop); err != nil {
		t.Fatal(err)
	}
	if q := Disk().Queued; q != 0 {
		t.Errorf("%d writes still queued after the recording stopped", q)
	}
	got := readWAV(t, info.AudioPath)
	if len(got) != 5*syncEvery*160 {
		t.Fatalf("%d samples, want %d", len(got), 5*syncEvery*160)
	}
	for i := range 5 * syncEvery {
		if got[i*160] != i {
			t.Fatalf("frame %d holds %d: out of order", i, got[i*160])
		}
	}
}

// TestBusyRecorderDoesNotHoldTheMediaClock: while a command holds the
// recorder (a start or pause writing metadata through fsync), WriteAudio
// returns at once; the frames it kept are written in order before the
// next ones, so the file misses nothing.
func TestBusyRecorderDoesNotHoldTheMediaClock(t *testing.T) {
	r := New(Config{Dir: t.TempDir()})
	info, err := r.Do(Start)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	write := func(n int) {
		for range n {
			r.WriteAudio(frame(int16(next)), frame(0))
			next++
		}
	}
	write(30)
	r.mu.Lock() // a command waiting for the disk
	returned := make(chan struct{})
	go func() { write(20); close(returned) }()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		r.mu.Unlock()
		t.Fatal("WriteAudio waited for a command")
	}
	r.mu.Unlock()
	write(30)
	if _, err := r.Do(Stop); err != nil {
		t.Fatal(err)
	}
	got := readWAV(t, info.AudioPath)
	if len(got) != 80*160 {
		t.Fatalf("%d samples, want %d", len(got), 80*160)
	}
	for i := range 80 {
		if got[i*160] != i {
			t.Fatalf("frame %d holds %d", i, got[i*160])
		}
	}
}

// A bot line barged in on ends in the transcript where playback stopped,
// marked interrupted; a line queued after it was never heard and is not
// there; the caller's lines stay.
func TestTranscriptOfABargeIn(t *testing.T) {
	dir := t.TempDir()
	r := New(Config{Dir: dir, Transcript: true})
	info, err := r.Do(Start)
	if err != nil {
		t.Fatal(err)
	}
	start := r.Position()
	start.Add(SideBot, "your balance is one hundred dollars and", 10645*time.Millisecond, false)
	next := start
	next.Offset += 10645 * time.Millisecond
	next.Add(SideBot, "anything else?", 2*time.Second, false)
	frame := make([]int16, 160)
	for range 42 { // 840 ms played
		r.WriteAudio(frame, frame)
	}
	at := r.Position()
	at.Add(SideCaller, "agent", time.Second, false)
	at.InterruptBot()
	r.Close(SessionEndCallEnded)
	var tr Transcript
	b, err := os.ReadFile(filepath.Join(dir, info.RecordingID+TranscriptExt))
	if err != nil || json.Unmarshal(b, &tr) != nil {
		t.Fatalf("transcript: %v %s", err, b)
	}
	if len(tr.Utterances) != 2 {
		t.Fatalf("%d lines, want the interrupted prompt and the caller's: %s", len(tr.Utterances), b)
	}
	bot, caller := tr.Utterances[0], tr.Utterances[1]
	if bot.Side != SideBot || bot.DurationMs != 840 || !bot.Interrupted || caller.Side != SideCaller || caller.Interrupted || caller.OffsetMs != 840 {
		t.Fatalf("lines %+v, want the prompt cut at 840 ms and interrupted, then the caller at 840 ms", tr.Utterances)
	}
}

// A disk full at hang-up: the final metadata and manifest cannot be
// written. Nothing half-written is left, no file-ready event goes out
// (OnFinish waits), and once the disk takes writes again the recording is
// finalized by itself, verifies, and is announced.
func TestFullDiskAtHangUp(t *testing.T) {
	var full atomic.Bool
	defer func(c func(string) (*os.File, error), d time.Duration) { createTemp, finalRetryFirst = c, d }(createTemp, finalRetryFirst)
	finalRetryFirst = 50 * time.Millisecond
	orig := createTemp
	createTemp = func(path string) (*os.File, error) {
		if full.Load() {
			return nil, syscall.ENOSPC
		}
		return orig(path)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	finished := make(chan []Metadata, 2)
	r := New(Config{Dir: dir, CallID: "call", EvidenceKey: key,
		OnFinish: func(mds []Metadata, _ SessionEnd) { finished <- mds }})
	info, err := r.Do(Start)
	if err != nil {
		t.Fatal(err)
	}
	for range 60 {
		r.WriteAudio(frame(1000), frame(0))
	}
	full.Store(true)
	if _, had, err := r.Close(SessionEndCallEnded); !had || err == nil {
		t.Fatalf("Close on a full disk: had %v, err %v; want the failure reported", had, err)
	}
	select {
	case <-finished:
		t.Fatal("the recording was announced before its files were final")
	case <-time.After(300 * time.Millisecond): // several retries, all refused
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("half-written files left: %v", tmps)
	}
	full.Store(false)
	var mds []Metadata
	select {
	case mds = <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the recording was never finalized once the disk had room")
	}
	md := readMetadataFile(t, info.MetadataPath)
	if len(mds) != 1 || md.Sha256 == "" || md.EndReason == "" || mds[0].Sha256 != md.Sha256 {
		t.Fatalf("final metadata %+v, announced %+v", md, mds)
	}
	if _, err := os.Stat(filepath.Join(dir, info.RecordingID+ManifestExt)); err != nil {
		t.Fatalf("no manifest after the retry: %v", err)
	}
}
