package recorder

import (
	"crypto/ed25519"
	"log/slog"
	"sync"
	"time"

	"filippo.io/age"
)

// syncEvery is how many frames pass between flushes of a file (1 s of 20 ms
// frames): a crash loses at most about a second of audio.
const syncEvery = 50

// Config describes the call a Recorder records.
type Config struct {
	Dir        string // where files go; created if missing
	SampleRate int    // sample rate of the files: 8000 (default; frames are 8 kHz) or 16000 (upsampled)
	Layout     Layout // default channel layout: LayoutMixed (default) or LayoutUnmixed
	// PauseBehavior is what a pause leaves in the file when neither the
	// start nor the pause command says: PauseSkip (default) or PauseSilence.
	PauseBehavior  PauseBehavior
	ResourceID     string // the gateway's name, "resourceId" in metadata
	NodeTag        string // starts every recording and chunk id (NodeTag)
	CallID         string // SIP Call-ID
	ConversationID string
	Participants   []string // participant ids: the caller, then the bot
	CallerNumber   string
	DialedNumber   string
	Direction      Direction
	Logger         *slog.Logger
	Now            func() time.Time // clock, for tests; default time.Now
	// Recipients, if set, encrypt every file of every recording to these
	// age public keys as it is written; RecipientKeys are their age1...
	// strings, for the metadata.
	Recipients    []age.Recipient
	RecipientKeys []string
	// Transcript, if set, writes <recordingId>.transcript when a session
	// ends, with the utterances given through Position's Marks.
	Transcript bool
	// EvidenceKey, if set, signs each finished session's manifest
	// (<recordingId>.manifest: every chunk with its hashes).
	EvidenceKey ed25519.PrivateKey
	// Store, if set, is handed every finalized chunk (Keep).
	Store Store
	// ChunkMax and ChunkMaxBytes bound one file (chunk) of a recording;
	// past either, the recording continues in a new chunk. 0 = no bound.
	ChunkMax      time.Duration
	ChunkMaxBytes int64
	// OnFinish, if set, is told of every finished recording session: the
	// final metadata of its chunks in order, and why the session ended
	// (a SessionEnd), even when finalized with errors. It runs in the
	// goroutine that stopped or closed the recording, after the recorder's
	// lock is released, before Do(Stop) or Close returns.
	OnFinish func(chunks []Metadata, end SessionEnd)
	// OnFailed, if set, is told when writing a recording starts failing (a
	// full disk): once per failure, not per frame. The recording goes on
	// as far as the disk lets it: writing is retried every second and
	// resumes where the disk stopped taking it. It runs on the media path
	// under the recorder's lock: it must not block.
	OnFailed func(info Info, err error)
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

	mu         sync.Mutex
	finalizing sync.WaitGroup // sessions closed, their files not yet final
	state      State
	cur        *session
	writeErr   error // the current write failure of cur; nil once recovered
	mix        []int16
	up         [2][]int16 // upsampled channels
	out        []int16    // interleaved stereo
	zeros      []int16    // a silent frame (never written to)
	quality    *CallQuality

	// pending are the frames that came while a command held mu (a start,
	// pause or stop writes metadata and waits for the disk): the media
	// clock does not wait for it. They are written, in order, by the next
	// WriteAudio or command that holds mu, from spare (under mu), into
	// which pending is swapped.
	pendMu  sync.Mutex
	pending frames
	spare   frames
}

// frames are audio frames kept in order, in buffers reused once emptied.
type frames struct {
	caller, played []int16
	lens           []int
}

func (f *frames) add(caller, played []int16) {
	f.caller = append(f.caller, caller...)
	f.played = append(f.played, played...)
	f.lens = append(f.lens, len(caller))
}

func (f *frames) reset() { f.caller, f.played, f.lens = f.caller[:0], f.played[:0], f.lens[:0] }

// SetCallQuality gives the call's quality figures to the recording that is
// running, for its metadata when it closes (at the call's end).
func (r *Recorder) SetCallQuality(q *CallQuality) {
	r.mu.Lock()
	r.quality = q
	r.mu.Unlock()
}

// New returns an idle Recorder.
func New(cfg Config) *Recorder {
	if cfg.SampleRate == 0 {
		cfg.SampleRate = 8000
	}
	if cfg.Layout == "" {
		cfg.Layout = LayoutMixed
	}
	if cfg.PauseBehavior == "" {
		cfg.PauseBehavior = PauseSkip
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

// Options are a start or pause command's own choices; zero values take
// the Config's.
type Options struct {
	Layout        Layout        // a start's channel layout
	PauseBehavior PauseBehavior // a start's default for its pauses, or one pause's
}

// Do applies one command with the configured choices. On success it
// returns the session the command acted on; a refusal or failure is an
// *Error.
func (r *Recorder) Do(c Command) (Info, error) {
	return r.DoWith(c, Options{})
}

// Start starts a recording with the given channel layout ("" = the
// configured one).
func (r *Recorder) Start(layout Layout) (Info, error) {
	return r.DoWith(Start, Options{Layout: layout})
}

// DoWith applies one command with its own options.
func (r *Recorder) DoWith(c Command, o Options) (Info, error) {
	if _, err := ParseLayout(string(o.Layout)); err != nil {
		return Info{}, failed(err)
	}
	if _, err := ParsePauseBehavior(string(o.PauseBehavior)); err != nil {
		return Info{}, failed(err)
	}
	return r.run(c, o)
}

// run applies a command; a stop's files are finalized after the lock is
// released, so hashing a long file never holds up the media path.
func (r *Recorder) run(c Command, o Options) (Info, error) {
	info, fin, err := r.do(c, o)
	if fin == nil {
		return info, err
	}
	if info, err = fin.finalize(); err != nil {
		return info, failed(err)
	}
	return info, nil
}

func (r *Recorder) do(c Command, o Options) (Info, *closing, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writePendingLocked() // frames that came before the command
	next, err := Transition(r.state, c)
	if err != nil {
		return Info{}, nil, err
	}
	now := r.cfg.Now()
	switch c {
	case Start:
		layout := o.Layout
		if layout == "" {
			layout = r.cfg.Layout
		}
		s, err := r.open(now, layout)
		if err != nil {
			return Info{}, nil, failed(err)
		}
		s.pauseDefault = r.cfg.PauseBehavior
		if o.PauseBehavior != "" {
			s.pauseDefault = o.PauseBehavior
		}
		r.cur = s
	case Pause:
		r.cur.pausedAt = now
		r.cur.pausing = r.cur.pauseDefault
		if o.PauseBehavior != "" {
			r.cur.pausing = o.PauseBehavior
		}
	case Resume:
		r.cur.closePause(now)
	case Stop:
		fin := r.closeLocked(now, SessionEndStopped)
		r.state = Idle
		return Info{}, fin, nil
	}
	r.state = next
	if err := r.syncLocked(); err != nil {
		// The command took effect (a pause must hold even on a full disk);
		// the failure is the recording's, told once by OnFailed.
		r.fail(err)
	}
	return r.cur.info, nil, nil
}

// fail records a write failure of the current session (r.mu held) and
// tells OnFailed when it is a new one.
func (r *Recorder) fail(err error) {
	s := r.cur
	s.failed = true
	if r.writeErr != nil {
		return
	}
	r.writeErr, s.down = err, 0
	r.log.Error("recording write failed", "recordingId", s.info.RecordingID, "callId", r.cfg.CallID, "err", err)
	if r.cfg.OnFailed != nil {
		r.cfg.OnFailed(s.info, err)
	}
}

// Close stops a running or paused recording because the call ended (end:
// SessionEndCallEnded, or SessionEndCallTransferred) and finalizes its
// files. It reports whether there was one.
// A recording a stop is still finalizing is waited for, so its OnFinish
// has run when Close returns.
func (r *Recorder) Close(end SessionEnd) (Info, bool, error) {
	r.mu.Lock()
	r.writePendingLocked()
	if r.state == Idle {
		r.mu.Unlock()
		r.finalizing.Wait()
		return Info{}, false, nil
	}
	fin := r.closeLocked(r.cfg.Now(), end)
	r.state = Idle
	r.mu.Unlock()
	info, err := fin.finalize()
	r.finalizing.Wait()
	return info, true, err
}

// WriteAudio records one frame: the caller's audio and what the gateway
// played to the caller, mixed into one mono signal. Frames arriving while
// idle are dropped; while paused they are dropped too, or written as
// silence when the pause's behaviour is PauseSilence.
//
// It never waits for a command: while one holds the recorder (writing
// metadata, waiting for the disk), the frame is kept and written, in
// order, once the command is done.
func (r *Recorder) WriteAudio(caller, played []int16) {
	if !r.mu.TryLock() {
		r.pendMu.Lock()
		r.pending.add(caller, played)
		r.pendMu.Unlock()
		return
	}
	defer r.mu.Unlock()
	r.writePendingLocked()
	r.writeLocked(caller, played)
}

// writePendingLocked writes the frames kept while a command held the
// recorder (r.mu held). They are swapped out first, so the clock keeps
// adding to an empty set meanwhile without waiting.
func (r *Recorder) writePendingLocked() {
	r.pendMu.Lock()
	if len(r.pending.lens) == 0 {
		r.pendMu.Unlock()
		return
	}
	r.pending, r.spare = r.spare, r.pending // spare was reset when last written
	r.pendMu.Unlock()
	off := 0
	for _, n := range r.spare.lens {
		r.writeLocked(r.spare.caller[off:off+n], r.spare.played[off:off+n])
		off += n
	}
	r.spare.reset()
}

// writeLocked records one frame (r.mu held).
func (r *Recorder) writeLocked(caller, played []int16) {
	switch {
	case r.state == Recording:
	case r.state == Paused && r.cur.pausing == PauseSilence:
		if len(r.zeros) < len(caller) {
			r.zeros = make([]int16, len(caller))
		}
		caller, played = r.zeros[:len(caller)], r.zeros[:len(caller)]
	default:
		return
	}
	s := r.cur
	if r.writeErr != nil { // the disk refused: retry once a second
		if s.down++; s.down%syncEvery != 0 || s.wav.Recover() != nil {
			return
		}
		r.log.Info("recording resumed after a write failure", "recordingId", s.info.RecordingID,
			"lost", (time.Duration(s.down) * 20 * time.Millisecond).String())
		r.writeErr = nil
	}
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
		r.fail(err)
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

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func ms(d time.Duration) float64 { return float64(d.Milliseconds()) }
