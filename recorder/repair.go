package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/botline/botline/internal/audio"
)

// Repair finalizes the recordings in dir that a crash left unfinished (their
// metadata has no endReason): the WAV header is rewritten for the audio that
// reached the disk (flushed at least once a second), and the metadata gets
// its duration, end time, sha256 and endReason "ServiceRestarted". Run it at
// start-up, before any new recording; it returns the repaired metadata so
// the recordings can be announced.
func Repair(dir string) ([]Metadata, error) {
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var repaired []Metadata
	var errs []error
	for _, mp := range metas {
		md, err := readMetadata(mp)
		if err != nil || md.EndReason != "" {
			continue
		}
		if err := repairOne(mp[:len(mp)-len(".json")], &md); err != nil {
			errs = append(errs, err)
			continue
		}
		repaired = append(repaired, md)
	}
	return repaired, errors.Join(errs...)
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
	md.ChunkDuration = ms(time.Duration(data/frame) * time.Second / time.Duration(rate))
	md.ChunkEndTime = isoTime(st.ModTime())
	md.EndReason = EndServiceRestarted
	md.Sha256 = sum
	return WriteJSON(base+".json", md)
}
