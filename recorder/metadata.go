package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Metadata describes one recording chunk, in the shape Azure Communication
// Services call recording publishes (docs/PROTOCOL.md, section 5), plus botline's own fields.
type Metadata struct {
	ResourceID           string          `json:"resourceId"`
	CallID               string          `json:"callId"`
	ChunkDocumentID      string          `json:"chunkDocumentId"`
	ChunkIndex           int             `json:"chunkIndex"`
	ChunkStartTime       string          `json:"chunkStartTime"`
	ChunkDuration        float64         `json:"chunkDuration"` // milliseconds of audio in the file
	PauseResumeIntervals []PauseInterval `json:"pauseResumeIntervals"`
	RecordingInfo        RecordingInfo   `json:"recordingInfo"`
	Participants         []Participant   `json:"participants"`

	RecordingID    string    `json:"recordingId"`
	ConversationID string    `json:"conversationId,omitempty"`
	CallerNumber   string    `json:"callerNumber,omitempty"`
	DialedNumber   string    `json:"dialedNumber,omitempty"`
	Direction      Direction `json:"direction,omitempty"`
	ChunkEndTime   string    `json:"chunkEndTime,omitempty"`
	// EndReason is empty while the chunk is being written, then one of the
	// End* constants.
	EndReason string `json:"endReason,omitempty"`
	// Sha256 is the hex SHA-256 of the finished audio file: tamper evidence,
	// checked by `botline verify`.
	Sha256 string `json:"sha256,omitempty"`
	// PreviousChunkSha256 is the previous chunk's Sha256 (none on chunk
	// 0): the chunks form a chain, so `botline verify` catches a chunk
	// removed or put out of order, not only a changed byte.
	PreviousChunkSha256 string `json:"previousChunkSha256,omitempty"`
	// Encryption is set when the chunk's files are encrypted: the audio is
	// <documentId>.wav.age, the full metadata <documentId>.json.age, and
	// this plaintext metadata keeps no numbers or participants.
	Encryption *Encryption `json:"encryption,omitempty"`
	// Transcript is set on a recording's last chunk when
	// <recordingId>.transcript was written beside it.
	Transcript bool `json:"transcript,omitempty"`
	// CallQuality is the call's RTP figures and MOS estimate, in the last
	// chunk of the recording that was running when the call ended.
	CallQuality *CallQuality `json:"callQuality,omitempty"`
}

// PauseInterval is one paused stretch: its start and length in milliseconds.
type PauseInterval struct {
	StartTime string  `json:"startTime"`
	Duration  float64 `json:"duration"`
	// PauseBehavior is "silence" when the span is kept in the file as
	// silence; absent when it was skipped.
	PauseBehavior string `json:"pauseBehavior,omitempty"`
}

// RecordingInfo describes the audio format of a chunk.
type RecordingInfo struct {
	ContentType        string             `json:"contentType"` // mixed | unmixed
	ChannelType        string             `json:"channelType"` // audioOnly
	Format             string             `json:"format"`      // wav
	AudioConfiguration AudioConfiguration `json:"audioConfiguration"`
}

// AudioConfiguration is the audio format. SampleRate is a string, as ACS
// publishes it.
type AudioConfiguration struct {
	SampleRate string `json:"sampleRate"`
	BitRate    int    `json:"bitRate"`
	Channels   int    `json:"channels"`
}

// Participant is one party of the call.
type Participant struct {
	ParticipantID string `json:"participantId"`
}

// WriteJSON writes v to path atomically and durably: a temporary file,
// synced to disk, renamed over path, and the directory synced, so neither a
// crash nor a power cut leaves half a document (or an empty one) behind.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// ReadJSON reads a document WriteJSON wrote.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeFileAtomic writes b to path as WriteJSON does.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := createTemp(tmp)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		os.Remove(tmp) // nothing half-written is left behind
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// createTemp creates the temporary file of an atomic write (a variable, so
// a test can fill the disk).
var createTemp = func(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
}

// syncDir makes a rename or a new file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = d.Sync()
	d.Close()
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
