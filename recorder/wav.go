package recorder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unsafe"

	"github.com/botline/botline/internal/audio"
)

// WAVWriter streams 16-bit PCM into a WAV file as it arrives. Samples go
// through one reused buffer and a bufio.Writer (go-audio/wav's Encoder writes
// one sample at a time: ~10x slower and ~1 MB per encoder, docs/PERFORMANCE.md);
// the RIFF and data sizes are patched on Sync and Close, so a synced file is
// always a valid WAV.
// The file's writes are made off the caller's goroutine (diskwriter.go).
// A WAVWriter is not safe for concurrent use: one writer per file.
type WAVWriter struct {
	f          wavFile
	enc        io.WriteCloser // the age stream of an encrypted file; nil: plain
	bw         *bufio.Writer
	buf        []byte
	sampleRate int
	channels   int
	dataBytes  int64
	synced     int64 // dataBytes on disk at the last successful Sync
}

// wavFile is what a WAVWriter needs of its file.
type wavFile interface {
	io.Writer
	io.WriterAt
	io.Seeker
	Truncate(size int64) error
	Sync() error
	Close() error
}

// createFile creates a recording's file (a variable, so a test can make
// the disk fill up).
var createFile = func(path string) (wavFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
}

// CreateWAV creates path (failing if it exists) and writes a WAV header for
// 16-bit PCM at sampleRate with channels interleaved channels.
func CreateWAV(path string, sampleRate, channels int) (*WAVWriter, error) {
	f, err := createFile(path)
	if err != nil {
		return nil, fmt.Errorf("create wav: %w", err)
	}
	w := &WAVWriter{sampleRate: sampleRate, channels: channels}
	if _, err := f.Write(w.header()); err != nil {
		f.Close()
		return nil, fmt.Errorf("write wav header: %w", err)
	}
	if _, err := f.Seek(audio.HeaderSize, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek wav: %w", err)
	}
	af := newAsyncFile(f, audio.HeaderSize) // the audio is written off the media clock
	w.f, w.bw = af, bufio.NewWriterSize(af, diskBuf)
	return w, nil
}

// littleEndian: int16s in memory are laid out as a WAV file's samples.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func (w *WAVWriter) header() []byte {
	return audio.Header(w.sampleRate, w.channels, w.dataBytes)
}

// Write appends interleaved samples.
func (w *WAVWriter) Write(samples []int16) error {
	n := len(samples) * 2
	var b []byte
	if littleEndian && n > 0 { // the samples' memory is the file's bytes already
		b = unsafe.Slice((*byte)(unsafe.Pointer(&samples[0])), n)
	} else {
		if cap(w.buf) < n {
			w.buf = make([]byte, n)
		}
		b = w.buf[:n]
		for i, s := range samples {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
		}
	}
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("write wav: %w", err)
	}
	w.dataBytes += int64(n)
	return nil
}

// Duration is the audio written so far.
func (w *WAVWriter) Duration() time.Duration {
	frames := w.dataBytes / int64(2*w.channels)
	return time.Duration(frames) * time.Second / time.Duration(w.sampleRate)
}

// Sync flushes buffered audio and patches the header sizes, leaving a valid
// file on disk once the disk goroutine has written them (at once, unless
// the disk is slow; Close waits for it).
func (w *WAVWriter) Sync() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush wav: %w", err)
	}
	if w.enc != nil { // nothing to patch inside a ciphertext
		w.synced = w.dataBytes
		return nil
	}
	if _, err := w.f.WriteAt(w.header(), 0); err != nil {
		return fmt.Errorf("patch wav header: %w", err)
	}
	w.synced = w.dataBytes
	return nil
}

// Recover makes the writer usable after a failed write (a full disk): the
// file is cut back to the audio of the last successful Sync, the header
// says so, and writing resumes there. What was written since is lost; it
// reports an error while the disk still refuses.
func (w *WAVWriter) Recover() error {
	if w.enc != nil {
		return errors.New("recover wav: an encrypted stream cannot be cut back")
	}
	if a, ok := w.f.(*asyncFile); ok {
		// What was synced was queued; cut back to what reached the file.
		_ = a.wait()
		frame := int64(2 * w.channels)
		w.synced = max(0, min(w.synced, (a.written.Load()-audio.HeaderSize)/frame*frame))
	}
	end := audio.HeaderSize + w.synced
	if err := w.f.Truncate(end); err != nil {
		return fmt.Errorf("recover wav: %w", err)
	}
	if _, err := w.f.WriteAt(audio.Header(w.sampleRate, w.channels, w.synced), 0); err != nil {
		return fmt.Errorf("recover wav header: %w", err)
	}
	if _, err := w.f.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("recover wav: %w", err)
	}
	w.bw.Reset(w.f)
	w.dataBytes = w.synced
	return nil
}

// Close syncs the file to disk (a finished recording survives a power
// cut) and closes it. The periodic Sync flushes to the OS only: it keeps a
// process crash from losing more than a second, at no disk cost per call.
func (w *WAVWriter) Close() error {
	err := w.Sync()
	if err == nil && w.enc != nil {
		if cerr := w.enc.Close(); cerr != nil { // the last, short age chunk
			err = fmt.Errorf("close wav encryption: %w", cerr)
		}
	}
	if err == nil {
		if serr := w.f.Sync(); serr != nil {
			err = fmt.Errorf("sync wav: %w", serr)
		}
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close wav: %w", cerr)
	}
	return err
}

// waitWritten waits until what was written so far is in the file (tests).
func (w *WAVWriter) waitWritten() error {
	if a, ok := w.f.(*asyncFile); ok {
		return a.wait()
	}
	return nil
}
