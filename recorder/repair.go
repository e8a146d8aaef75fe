package recorder

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/botline/botline/internal/audio"
)

// Repair finalizes the recordings in dir that a crash left unfinished (their
// metadata has no endReason): the WAV header is rewritten for the audio that
// reached the disk (flushed at least once a second), and the metadata gets
// its duration, end time, sha256 and endReason "ServiceRestarted". A WAV
// whose metadata is missing or unreadable (a power cut before it reached
// the disk) is repaired too, with metadata rebuilt from the WAV's header.
// Run it at start-up, before any new recording; it returns the repaired
// metadata so the recordings can be announced.
func Repair(dir string) ([]Metadata, error) {
	wavs, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	if err != nil {
		return nil, err
	}
	var repaired []Metadata
	var errs []error
	for _, wp := range wavs {
		base := strings.TrimSuffix(wp, ".wav")
		id := filepath.Base(base)
		if !ValidDocumentID(id) {
			continue
		}
		md, err := readMetadata(base + ".json")
		if err == nil && md.EndReason != "" {
			continue
		}
		if err != nil {
			if md, err = metadataFromWAV(wp, id); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := repairOne(base, &md); err != nil {
			errs = append(errs, err)
			continue
		}
		repaired = append(repaired, md)
	}
	return repaired, errors.Join(errs...)
}

// metadataFromWAV rebuilds what a chunk's metadata can say from its WAV
// header alone: the document id (its name), the format and layout.
func metadataFromWAV(path, id string) (Metadata, error) {
	f, err := os.Open(path)
	if err != nil {
		return Metadata{}, fmt.Errorf("repair: %w", err)
	}
	defer f.Close()
	head := make([]byte, audio.HeaderSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return Metadata{}, fmt.Errorf("repair %s: no WAV header: %w", filepath.Base(path), err)
	}
	_, rate, channels, err := audio.Decode(head)
	if err != nil || channels > 2 {
		return Metadata{}, fmt.Errorf("repair %s: unreadable WAV header and metadata", filepath.Base(path))
	}
	layout := LayoutMixed
	if channels == 2 {
		layout = LayoutUnmixed
	}
	return Metadata{
		ChunkDocumentID: id, RecordingID: id,
		PauseResumeIntervals: []PauseInterval{}, Participants: []Participant{},
		RecordingInfo: RecordingInfo{ContentType: string(layout), ChannelType: "audioOnly", Format: "wav",
			AudioConfiguration: AudioConfiguration{SampleRate: strconv.Itoa(rate), BitRate: rate * 16 * channels, Channels: channels}},
	}, nil
}

func repairOne(base string, md *Metadata) error {
	rate, _ := strconv.Atoi(md.RecordingInfo.AudioConfiguration.SampleRate)
	channels := md.RecordingInfo.AudioConfiguration.Channels
	if rate <= 0 || channels <= 0 {
		return fmt.Errorf("repair %s: metadata has no audio format", filepath.Base(base))
	}
	f, err := os.OpenFile(base+".wav", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	frame := int64(2 * channels)
	data := max(0, st.Size()-audio.HeaderSize)
	data -= data % frame // a sample cut in half by the crash is dropped
	if err := f.Truncate(audio.HeaderSize + data); err != nil {
		return fmt.Errorf("repair truncate: %w", err)
	}
	if _, err := f.WriteAt(audio.Header(rate, channels, data), 0); err != nil {
		return fmt.Errorf("repair header: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("repair sync: %w", err)
	}
	sum, err := FileSHA256(base + ".wav")
	if err != nil {
		return err
	}
	dur := time.Duration(data/frame) * time.Second / time.Duration(rate)
	md.ChunkDuration = ms(dur)
	md.ChunkEndTime = isoTime(st.ModTime())
	if md.ChunkStartTime == "" { // rebuilt: the last write minus the audio
		md.ChunkStartTime = isoTime(st.ModTime().Add(-dur))
	}
	md.EndReason = EndServiceRestarted
	md.Sha256 = sum
	return WriteJSON(base+".json", md)
}
