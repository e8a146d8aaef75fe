package recorder

// This file holds a recording session's files: opening a chunk, rolling over
// to the next at the chunk bound, pauses, flushes, and the final close.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/retry"
)

// session is one recording: one WAV file and its metadata.
type session struct {
	info     Info // RecordingID of the session; paths of the current chunk
	wav      *WAVWriter
	md       Metadata // the current chunk's
	pausedAt time.Time
	// pauseDefault is the session's pause behaviour; pausing, the current
	// pause's.
	pauseDefault, pausing PauseBehavior
	frames                int
	unmixed               bool
	ups                   [2]audio.Upsampler // per channel, when the file is 16 kHz
	// failed: writing failed at least once (a full disk); the session
	// ends as SessionEndRecordingFailed. down counts the frames lost while
	// the writer is failed.
	failed bool
	down   int

	audioBefore time.Duration // audio in the chunks before the current one
	tr          transcript

	// prevSum delivers the previous chunk's audio hash to the current
	// chunk's metadata (nil on chunk 0): the chain.
	prevSum <-chan string

	// Chunks finished by rollover; their finalizers hash off the media path.
	finMu    sync.Mutex
	finished []Metadata
	pending  sync.WaitGroup
}

func (r *Recorder) open(now time.Time, layout Layout) (*session, error) {
	if err := os.MkdirAll(r.cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("recordings dir: %w", err)
	}
	id := NewID(r.cfg.NodeTag)
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
	audioPath := base + ".wav"
	var w *WAVWriter
	var err error
	if len(r.cfg.Recipients) > 0 {
		audioPath += EncryptedExt
		w, err = CreateEncryptedWAV(audioPath, r.cfg.SampleRate, channels, r.cfg.Recipients)
	} else {
		w, err = CreateWAV(audioPath, r.cfg.SampleRate, channels)
	}
	if err != nil {
		return err
	}
	parts := make([]Participant, len(r.cfg.Participants))
	for i, p := range r.cfg.Participants {
		parts[i] = Participant{ParticipantID: p}
	}
	s.info.AudioPath, s.info.MetadataPath = audioPath, base+".json"
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
	if len(r.cfg.Recipients) > 0 {
		s.md.Encryption = &Encryption{Scheme: "age", Recipients: r.cfg.RecipientKeys}
	}
	return r.writeMetadata(s.info.MetadataPath, s.md)
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
	s.audioBefore += old.Duration()
	md.ChunkDuration = ms(old.Duration())
	md.EndReason = EndChunkMax
	md.ChunkEndTime = isoTime(now)
	prev, sum := s.prevSum, make(chan string, 1)
	s.prevSum = sum
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		if prev != nil {
			md.PreviousChunkSha256 = <-prev
		}
		if h, herr := hashFile(path.AudioPath); herr == nil {
			md.Sha256 = h
		} else {
			r.log.Error("chunk hash failed", "documentId", md.ChunkDocumentID, "err", herr)
		}
		sum <- md.Sha256
		if werr := r.writeMetadata(path.MetadataPath, md); werr != nil {
			r.log.Error("chunk metadata failed", "documentId", md.ChunkDocumentID, "err", werr)
		}
		r.keep(md, path)
		s.finMu.Lock()
		s.finished = append(s.finished, md)
		s.finMu.Unlock()
	}()
	layout := Layout(md.RecordingInfo.ContentType)
	return errors.Join(err, r.openChunk(s, now, layout, md.ChunkIndex+1, NewID(r.cfg.NodeTag)))
}

func (s *session) closePause(now time.Time) {
	if s.pausedAt.IsZero() {
		return
	}
	iv := PauseInterval{StartTime: isoTime(s.pausedAt), Duration: ms(now.Sub(s.pausedAt))}
	if s.pausing == PauseSilence {
		iv.PauseBehavior = string(PauseSilence)
	}
	s.md.PauseResumeIntervals = append(s.md.PauseResumeIntervals, iv)
	s.pausedAt = time.Time{}
}

// syncLocked flushes the current file and rewrites its metadata.
func (r *Recorder) syncLocked() error {
	s := r.cur
	err := s.wav.Sync()
	s.md.ChunkDuration = ms(s.wav.Duration())
	return errors.Join(err, r.writeMetadata(s.info.MetadataPath, s.md))
}

// closing is a recording session taken off the media path: its file is
// closed, its hash and final metadata are still to be written.
type closing struct {
	r   *Recorder
	s   *session
	end SessionEnd
	err error // what went wrong writing or closing the file
}

// closeLocked closes the current session's file (r.mu held): no frame
// reaches it after this. finalize does the rest, without the lock.
func (r *Recorder) closeLocked(now time.Time, end SessionEnd) *closing {
	s := r.cur
	r.cur = nil
	s.closePause(now)
	var err error
	if r.writeErr != nil { // cut back to what reached the disk, so header and data agree
		err = s.wav.Recover()
	}
	err = errors.Join(err, s.wav.Close())
	s.md.ChunkDuration = ms(s.wav.Duration())
	s.md.EndReason = EndSessionEnded
	s.md.ChunkEndTime = isoTime(now)
	s.md.CallQuality = r.quality
	s.info.Duration = s.wav.Duration()
	r.writeErr = nil
	if s.failed {
		end = SessionEndRecordingFailed
	}
	r.finalizing.Add(1)
	return &closing{r: r, s: s, end: end, err: err}
}

// finalize hashes the closed file, writes its final metadata, hands it to
// the store, waits for rolled-over chunks and tells OnFinish. It runs
// without the recorder's lock: hashing an hour of 16 kHz stereo takes
// ~150 ms, which must not stall the call's clock. When the disk refuses
// the last writes (full at hang-up), they are retried in the background
// until it takes them, and OnFinish (the file-ready event) waits for that:
// nothing is announced that is not final.
func (c *closing) finalize() (Info, error) {
	r, s, err := c.r, c.s, c.err
	defer r.finalizing.Done()
	if s.prevSum != nil {
		s.md.PreviousChunkSha256 = <-s.prevSum
	}
	chunks, ferr := c.complete()
	if ferr != nil {
		r.log.Error("recording not final: the disk refused its last writes; retrying until it takes them, and its file-ready event waits",
			"recordingId", s.info.RecordingID, "err", ferr)
		go c.retryComplete()
		return s.info, errors.Join(err, ferr)
	}
	if err != nil {
		r.log.Error("recording finalized with errors", "recordingId", s.info.RecordingID, "err", err)
	}
	if r.cfg.OnFinish != nil {
		r.cfg.OnFinish(chunks, c.end)
	}
	return s.info, err
}

// complete writes what makes the session final: its transcript, the hash
// and final metadata of its last chunk, and (once the chunks before it are
// final) the signed manifest. Every write may be done again.
func (c *closing) complete() ([]Metadata, error) {
	r, s := c.r, c.s
	var err error
	if r.cfg.Transcript && !s.md.Transcript {
		if terr := r.writeTranscript(s); terr != nil {
			err = terr
		} else {
			s.md.Transcript = true
		}
	}
	if sum, herr := hashFile(s.info.AudioPath); herr != nil {
		err = errors.Join(err, herr)
	} else {
		s.md.Sha256 = sum
	}
	if err = errors.Join(err, r.writeMetadata(s.info.MetadataPath, s.md)); err != nil {
		return nil, err
	}
	r.keep(s.md, s.info)
	s.pending.Wait() // rolled-over chunks' finalizers
	chunks := append(append([]Metadata{}, s.finished...), s.md)
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].ChunkIndex < chunks[j].ChunkIndex })
	if r.cfg.EvidenceKey != nil {
		if merr := writeManifest(r.cfg.Dir, r.cfg.EvidenceKey, chunks); merr != nil {
			return nil, fmt.Errorf("manifest: %w", merr)
		}
	}
	return chunks, nil
}

// retryComplete does complete again, 1 s apart doubling to 30 s, until it
// succeeds, then tells OnFinish. (A process stopped meanwhile leaves the
// recording to the next start's repair.)
func (c *closing) retryComplete() {
	r, s := c.r, c.s
	b := retry.Backoff{First: finalRetryFirst, Max: 30 * time.Second}
	for {
		time.Sleep(b.Next())
		chunks, err := c.complete()
		if err != nil {
			continue
		}
		r.log.Info("recording final after all: the disk took its last writes", "recordingId", s.info.RecordingID)
		if r.cfg.OnFinish != nil {
			r.cfg.OnFinish(chunks, c.end)
		}
		return
	}
}

// finalRetryFirst is the first wait before finalizing again.
var finalRetryFirst = time.Second

// hashFile hashes a finished chunk (a variable, so a test can hold it).
var hashFile = FileSHA256
