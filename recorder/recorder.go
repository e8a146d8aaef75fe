package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/randid"
)

// syncEvery is how many frames pass between flushes of a file (1 s of 20 ms
// frames): a crash loses at most about a second of audio.
const syncEvery = 50

// Config describes the call a Recorder records.
type Config struct {
	Dir            string // where files go; created if missing
	SampleRate     int    // sample rate of the files: 8000 (default; frames are 8 kHz) or 16000 (upsampled)
	Layout         Layout // default channel layout: LayoutMixed (default) or LayoutUnmixed
	ResourceID     string // the gateway's name, "resourceId" in metadata
	CallID         string // SIP Call-ID
	ConversationID string
	Participants   []string // participant ids: the caller, then the bot
	CallerNumber   string
	DialedNumber   string
	Direction      string // "inbound"
	Logger         *slog.Logger
	Now            func() time.Time // clock, for tests; default time.Now
	// Store, if set, is handed every finalized chunk (Keep).
	Store Store
	// ChunkMax and ChunkMaxBytes bound one file (chunk) of a recording;
	// past either, the recording continues in a new chunk. 0 = no bound.
	ChunkMax      time.Duration
	ChunkMaxBytes int64
	// OnFinish, if set, is told of every finished recording session: the
	// final metadata of its chunks in order, and why the session ended
	// (a SessionEnd), even when finalized with errors. It runs under the
	// recorder's lock: it must not block or call back into the Recorder.
	OnFinish func(chunks []Metadata, end SessionEnd)
}

// Info names the files of one recording session.
type Info struct {
	RecordingID  string
	AudioPath    string
	MetadataPath string
	Duration     time.Duration // audio in the file
}

// Recorder records one call. Commands (Do, Close) may come from any
// goroutine; WriteAudio is called by the call's media goroutine, the one
// writer of the file. The mutex is per call, never global.
type Recorder struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	state    State
	cur      *session
	writeErr error // first write failure of cur, reported on the next command
	mix      []int16
	up       [2][]int16 // upsampled channels
	out      []int16    // interleaved stereo
}

// session is one recording: one WAV file and its metadata.
type session struct {
	info     Info // RecordingID of the session; paths of the current chunk
	wav      *WAVWriter
	md       Metadata // the current chunk's
	pausedAt time.Time
	frames   int
	unmixed  bool
	ups      [2]audio.Upsampler // per channel, when the file is 16 kHz

	// Chunks finished by rollover; their finalizers hash off the media path.
	finMu    sync.Mutex
	finished []Metadata
	pending  sync.WaitGroup
}

// New returns an idle Recorder.
func New(cfg Config) *Recorder {
	if cfg.SampleRate == 0 {
		cfg.SampleRate = 8000
	}
	if cfg.Layout == "" {
		cfg.Layout = LayoutMixed
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Recorder{cfg: cfg, log: cfg.Logger}
}

// State returns the current recording state.
func (r *Recorder) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Current returns the id of the running or paused recording, "" when idle.
func (r *Recorder) Current() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return ""
	}
	return r.cur.info.RecordingID
}

// Do applies one command. On success it returns the session the command
// acted on; a refusal or failure is an *Error. Start uses the configured
// layout.
func (r *Recorder) Do(c Command) (Info, error) {
	return r.do(c, r.cfg.Layout)
}

// Start starts a recording with the given channel layout ("" = the
// configured one).
func (r *Recorder) Start(layout Layout) (Info, error) {
	if layout == "" {
		layout = r.cfg.Layout
	}
	if _, err := ParseLayout(string(layout)); err != nil {
		return Info{}, failed(err)
	}
	return r.do(Start, layout)
}

func (r *Recorder) do(c Command, layout Layout) (Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := Transition(r.state, c)
	if err != nil {
		return Info{}, err
	}
	now := r.cfg.Now()
	switch c {
	case Start:
		s, err := r.open(now, layout)
		if err != nil {
			return Info{}, failed(err)
		}
		r.cur = s
	case Pause:
		r.cur.pausedAt = now
	case Resume:
		r.cur.closePause(now)
	case Stop:
		info, err := r.finish(now, SessionEndStopped)
		r.state = Idle
		if err != nil {
			return info, failed(err)
		}
		return info, nil
	}
	r.state = next
	if err := r.syncLocked(); err != nil {
		return r.cur.info, failed(err)
	}
	return r.cur.info, nil
}

// Close stops a running or paused recording because the call ended (end:
// SessionEndCallEnded, or SessionEndCallTransferred) and finalizes its
// files. It reports whether there was one.
func (r *Recorder) Close(end SessionEnd) (Info, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == Idle {
		return Info{}, false, nil
	}
	info, err := r.finish(r.cfg.Now(), end)
	r.state = Idle
	return info, true, err
}

// WriteAudio records one frame: the caller's audio and what the gateway
// played to the caller, mixed into one mono signal. Frames arriving while
// idle or paused are dropped, so a paused stretch is absent from the file.
func (r *Recorder) WriteAudio(caller, played []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Recording || r.writeErr != nil {
		return
	}
	s := r.cur
	err := s.wav.Write(r.layout(s, caller, played))
	if err == nil {
		s.frames++
		switch {
		case r.full(s):
			err = r.rollover(s)
		case s.frames%syncEvery == 0:
			err = s.wav.Sync()
		}
	}
	if err != nil {
		r.writeErr = err
		r.log.Error("recording write failed", "recordingId", s.info.RecordingID, "callId", r.cfg.CallID, "err", err)
	}
}

// layout turns one frame into the file's samples: mixed or interleaved
// stereo, at 8 or 16 kHz. Buffers are reused.
func (r *Recorder) layout(s *session, caller, played []int16) []int16 {
	n := min(len(caller), len(played))
	k := r.cfg.SampleRate / 8000 // 1 or 2
	grow := func(b []int16, size int) []int16 {
		if cap(b) < size {
			return make([]int16, size)
		}
		return b[:size]
	}
	if !s.unmixed {
		r.mix = grow(r.mix, n)
		for i := range r.mix {
			v := int32(caller[i]) + int32(played[i])
			r.mix[i] = int16(max(-32768, min(32767, v)))
		}
		if k == 1 {
			return r.mix
		}
		r.up[0] = grow(r.up[0], 2*n)
		s.ups[0].Process(r.up[0], r.mix)
		return r.up[0]
	}
	left, right := caller[:n], played[:n]
	if k == 2 {
		r.up[0], r.up[1] = grow(r.up[0], 2*n), grow(r.up[1], 2*n)
		s.ups[0].Process(r.up[0], left)
		s.ups[1].Process(r.up[1], right)
		left, right = r.up[0], r.up[1]
	}
	r.out = grow(r.out, 2*len(left))
	for i := range left {
		r.out[2*i], r.out[2*i+1] = left[i], right[i]
	}
	return r.out
}

func (r *Recorder) open(now time.Time, layout Layout) (*session, error) {
	if err := os.MkdirAll(r.cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("recordings dir: %w", err)
	}
	id := randid.New()
	s := &session{info: Info{RecordingID: id}, unmixed: layout == LayoutUnmixed}
	r.writeErr = nil
	// The first chunk's document id is the recording id.
	if err := r.openChunk(s, now, layout, 0, id); err != nil {
		return nil, err
	}
	return s, nil
}

// openChunk starts chunk index of session s in a new file named docID.
func (r *Recorder) openChunk(s *session, now time.Time, layout Layout, index int, docID string) error {
	base := filepath.Join(r.cfg.Dir, docID)
	channels := layout.Channels()
	w, err := CreateWAV(base+".wav", r.cfg.SampleRate, channels)
	if err != nil {
		return err
	}
	parts := make([]Participant, len(r.cfg.Participants))
	for i, p := range r.cfg.Participants {
		parts[i] = Participant{ParticipantID: p}
	}
	s.info.AudioPath, s.info.MetadataPath = base+".wav", base+".json"
	s.wav, s.frames = w, 0
	s.md = Metadata{
		ResourceID:           r.cfg.ResourceID,
		CallID:               r.cfg.CallID,
		ChunkDocumentID:      docID,
		ChunkIndex:           index,
		ChunkStartTime:       isoTime(now),
		PauseResumeIntervals: []PauseInterval{},
		RecordingInfo: RecordingInfo{
			ContentType: string(layout),
			ChannelType: "audioOnly",
			Format:      "wav",
			AudioConfiguration: AudioConfiguration{
				SampleRate: strconv.Itoa(r.cfg.SampleRate),
				BitRate:    r.cfg.SampleRate * 16 * channels,
				Channels:   channels,
			},
		},
		Participants:   parts,
		RecordingID:    s.info.RecordingID,
		ConversationID: r.cfg.ConversationID,
		CallerNumber:   r.cfg.CallerNumber,
		DialedNumber:   r.cfg.DialedNumber,
		Direction:      r.cfg.Direction,
	}
	return WriteJSON(s.info.MetadataPath, s.md)
}

// keep hands a finalized chunk to the store.
func (r *Recorder) keep(md Metadata, at Info) {
	if r.cfg.Store == nil {
		return
	}
	if err := r.cfg.Store.Keep(context.Background(), md, at.AudioPath, at.MetadataPath); err != nil {
		r.log.Error("recording store refused a chunk", "documentId", md.ChunkDocumentID, "err", err)
	}
}

// full reports whether the current chunk reached its bound.
func (r *Recorder) full(s *session) bool {
	return (r.cfg.ChunkMax > 0 && s.wav.Duration() >= r.cfg.ChunkMax) ||
		(r.cfg.ChunkMaxBytes > 0 && s.wav.dataBytes >= r.cfg.ChunkMaxBytes)
}

// rollover closes the current chunk and opens the next. It runs on the
// media path: the old file is closed here (a flush), its hash and final
// metadata are written by a finalizer goroutine.
func (r *Recorder) rollover(s *session) error {
	now := r.cfg.Now()
	old, md, path := s.wav, s.md, s.info
	err := old.Close()
	md.ChunkDuration = ms(old.Duration())
	md.EndReason = EndChunkMax
	md.ChunkEndTime = isoTime(now)
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		if sum, herr := FileSHA256(path.AudioPath); herr == nil {
			md.Sha256 = sum
		} else {
			r.log.Error("chunk hash failed", "documentId", md.ChunkDocumentID, "err", herr)
		}
		if werr := WriteJSON(path.MetadataPath, md); werr != nil {
			r.log.Error("chunk metadata failed", "documentId", md.ChunkDocumentID, "err", werr)
		}
		r.keep(md, path)
		s.finMu.Lock()
		s.finished = append(s.finished, md)
		s.finMu.Unlock()
	}()
	layout := Layout(md.RecordingInfo.ContentType)
	return errors.Join(err, r.openChunk(s, now, layout, md.ChunkIndex+1, randid.New()))
}

func (s *session) closePause(now time.Time) {
	if s.pausedAt.IsZero() {
		return
	}
	s.md.PauseResumeIntervals = append(s.md.PauseResumeIntervals, PauseInterval{
		StartTime: isoTime(s.pausedAt),
		Duration:  ms(now.Sub(s.pausedAt)),
	})
	s.pausedAt = time.Time{}
}

// syncLocked flushes the current file and rewrites its metadata.
func (r *Recorder) syncLocked() error {
	s := r.cur
	err := s.wav.Sync()
	s.md.ChunkDuration = ms(s.wav.Duration())
	return errors.Join(err, WriteJSON(s.info.MetadataPath, s.md))
}

// finish closes the current file and writes its final metadata.
func (r *Recorder) finish(now time.Time, end SessionEnd) (Info, error) {
	s := r.cur
	r.cur = nil
	s.closePause(now)
	err := s.wav.Close()
	s.md.ChunkDuration = ms(s.wav.Duration())
	s.md.EndReason = EndSessionEnded
	s.md.ChunkEndTime = isoTime(now)
	if sum, herr := FileSHA256(s.info.AudioPath); herr != nil {
		err = errors.Join(err, herr)
	} else {
		s.md.Sha256 = sum
	}
	s.info.Duration = s.wav.Duration()
	err = errors.Join(r.writeErr, err, WriteJSON(s.info.MetadataPath, s.md))
	r.writeErr = nil
	if err != nil {
		r.log.Error("recording finalize failed", "recordingId", s.info.RecordingID, "err", err)
	}
	r.keep(s.md, s.info)
	s.pending.Wait() // rolled-over chunks' finalizers
	chunks := append(s.finished, s.md)
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].ChunkIndex < chunks[j].ChunkIndex })
	if r.cfg.OnFinish != nil {
		r.cfg.OnFinish(chunks, end)
	}
	return s.info, err
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func ms(d time.Duration) float64 { return float64(d.Milliseconds()) }
