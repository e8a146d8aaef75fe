package recorder

// This file holds a recording's transcript: what the caller said (as the
// recognizer heard it) and what the bot said, with offsets into the
// recording, written beside its chunks when the session ends.

import (
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// TranscriptExt ends the name of a recording's transcript,
// <recordingId>.transcript (JSON), beside its chunks.
const TranscriptExt = ".transcript"

// Sides of an utterance.
const (
	SideCaller = "caller"
	SideBot    = "bot"
)

// Transcript is what was said during a recording.
type Transcript struct {
	RecordingID string      `json:"recordingId"`
	CallID      string      `json:"callId"`
	Utterances  []Utterance `json:"utterances"`
}

// Utterance is one line of a transcript.
type Utterance struct {
	Side string `json:"side"` // caller or bot
	Text string `json:"text"`
	// OffsetMs is where the utterance starts in the recording: its chunks
	// end to end, with what a pause skipped left out.
	OffsetMs   float64 `json:"offsetMs"`
	DurationMs float64 `json:"durationMs"`
	// Interrupted: the caller barged in; DurationMs is what was heard,
	// up to where playback stopped.
	Interrupted bool `json:"interrupted,omitempty"`
}

// transcript collects a session's utterances; recognition finishes after
// the words were spoken, so the session waits for the ones expected.
type transcript struct {
	mu      sync.Mutex
	utts    []Utterance
	pending sync.WaitGroup
}

// Mark is a point in a running recording, taken when an utterance starts.
// The zero Mark is no point: the recorder was idle or paused, and what is
// said then is not transcribed.
type Mark struct {
	RecordingID string
	Offset      time.Duration
	s           *session
}

// Valid reports whether m is a point in a recording.
func (m Mark) Valid() bool { return m.s != nil }

// Position is the running recording's current point; the zero Mark when
// idle or paused.
func (r *Recorder) Position() Mark {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Recording {
		return Mark{}
	}
	s := r.cur
	return Mark{RecordingID: s.info.RecordingID, Offset: s.audioBefore + s.wav.Duration(), s: s}
}

// Expect tells m's session that an utterance from m will be added (Add)
// or given up (Abandon): the transcript waits for it, up to
// transcriptWait, when the session ends.
func (m Mark) Expect() {
	if m.s != nil {
		m.s.tr.pending.Add(1)
	}
}

// Abandon gives up an expected utterance (nothing was recognized).
func (m Mark) Abandon() {
	if m.s != nil {
		m.s.tr.pending.Done()
	}
}

// Add puts what side said from m, lasting d, in the transcript; expected
// says whether Expect was called for it.
func (m Mark) Add(side, text string, d time.Duration, expected bool) {
	if m.s == nil {
		return
	}
	m.s.tr.mu.Lock()
	m.s.tr.utts = append(m.s.tr.utts, Utterance{Side: side, Text: text, OffsetMs: ms(m.Offset), DurationMs: ms(d)})
	m.s.tr.mu.Unlock()
	if expected {
		m.s.tr.pending.Done()
	}
}

// InterruptBot cuts the bot's lines at m, where the caller barged in and
// playback stopped: a line playing then ends there and is marked
// interrupted; a line queued after it was never heard and goes.
func (m Mark) InterruptBot() {
	if m.s == nil {
		return
	}
	at := ms(m.Offset)
	tr := &m.s.tr
	tr.mu.Lock()
	defer tr.mu.Unlock()
	kept := tr.utts[:0]
	for _, u := range tr.utts {
		switch {
		case u.Side != SideBot || u.OffsetMs+u.DurationMs <= at:
		case u.OffsetMs >= at:
			continue // queued, never played
		default:
			u.DurationMs, u.Interrupted = at-u.OffsetMs, true
		}
		kept = append(kept, u)
	}
	tr.utts = kept
}

// transcriptWait bounds how long a finishing session waits for utterances
// still being recognized.
const transcriptWait = 15 * time.Second

// writeTranscript waits for the utterances still expected and writes the
// session's transcript, in order of offset.
func (r *Recorder) writeTranscript(s *session) error {
	done := make(chan struct{})
	go func() { s.tr.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(transcriptWait):
		r.log.Warn("transcript written without the utterances still being recognized", "recordingId", s.info.RecordingID)
	}
	s.tr.mu.Lock()
	t := Transcript{RecordingID: s.info.RecordingID, CallID: r.cfg.CallID, Utterances: append([]Utterance{}, s.tr.utts...)}
	s.tr.mu.Unlock()
	sort.SliceStable(t.Utterances, func(i, j int) bool { return t.Utterances[i].OffsetMs < t.Utterances[j].OffsetMs })
	path := filepath.Join(r.cfg.Dir, s.info.RecordingID+TranscriptExt)
	return r.writeSealedJSON(path, t)
}
