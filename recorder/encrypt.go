package recorder

// This file encrypts a recording to its owner's public keys (age X25519)
// as it is written: the audio streams through age, the metadata and the
// transcript are written encrypted beside a plaintext metadata file that
// keeps only what operating the gateway needs. The gateway holds no key
// that decrypts them; `botline decrypt` with the owner's identity does.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"github.com/botline/botline/internal/audio"
)

// EncryptedExt ends the name of an encrypted file: <documentId>.wav.age,
// <documentId>.json.age (the full metadata), <recordingId>.transcript.age.
const EncryptedExt = ".age"

// Encryption says how a chunk's files are encrypted (in its plaintext
// metadata).
type Encryption struct {
	Scheme     string   `json:"scheme"`     // "age"
	Recipients []string `json:"recipients"` // the public keys, age1...
}

// ParseRecipients reads age X25519 public keys (age1...).
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// streamingSize marks the RIFF and data sizes of an encrypted WAV: the
// header cannot be patched inside the ciphertext, so it says "to the end"
// as streaming WAV does; decryption writes the real sizes.
const streamingSize = 0xFFFFFFFF

// CreateEncryptedWAV creates path (failing if it exists) and streams a
// 16-bit PCM WAV into it through age, encrypted to recipients. Sync
// flushes to age, which writes each 64 KiB of ciphertext as it fills; a
// crash loses at most that much. Recover is not possible: a failed write
// stays failed.
func CreateEncryptedWAV(path string, sampleRate, channels int, recipients []age.Recipient) (*WAVWriter, error) {
	f, err := createFile(path)
	if err != nil {
		return nil, fmt.Errorf("create wav: %w", err)
	}
	af := newAsyncFile(f, 0) // the ciphertext is written off the media clock
	enc, err := age.Encrypt(af, recipients...)
	if err != nil {
		af.Close()
		return nil, fmt.Errorf("encrypt wav: %w", err)
	}
	w := &WAVWriter{f: af, enc: enc, sampleRate: sampleRate, channels: channels}
	w.bw = bufio.NewWriterSize(enc, 8192)
	h := audio.Header(sampleRate, channels, 0)
	binary.LittleEndian.PutUint32(h[4:], streamingSize)
	binary.LittleEndian.PutUint32(h[40:], streamingSize)
	if _, err := w.bw.Write(h); err != nil {
		f.Close()
		return nil, fmt.Errorf("write wav header: %w", err)
	}
	return w, nil
}

// encryptFile writes b to path encrypted to recipients, atomically.
func encryptFile(path string, b []byte, recipients []age.Recipient) error {
	var out bytes.Buffer
	w, err := age.Encrypt(&out, recipients...)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return writeFileAtomic(path, out.Bytes())
}

// redacted is md as the plaintext metadata of an encrypted chunk keeps it:
// ids, times, sizes, hashes and reasons; no numbers, participants or
// call quality (those are in the encrypted metadata).
func redacted(md Metadata) Metadata {
	md.CallerNumber, md.DialedNumber, md.CallQuality = "", "", nil
	md.Participants = []Participant{}
	return md
}

// Decrypt reads an age file with identities and writes its plaintext to
// out: a WAV gets its real sizes back (the same bytes an unencrypted
// recording has), anything else is copied as is. A ciphertext cut short
// by a crash yields the audio up to its last whole 64 KiB and an error.
func Decrypt(in io.Reader, out io.Writer, identities []age.Identity) error {
	r, err := age.Decrypt(in, identities...)
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	b, rerr := io.ReadAll(r)
	if len(b) >= audio.HeaderSize && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE" && string(b[36:40]) == "data" {
		data := int64(len(b) - audio.HeaderSize)
		binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
		binary.LittleEndian.PutUint32(b[40:], uint32(data))
	}
	if _, err := out.Write(b); err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("decrypt: the file is cut short (%w); what was whole is written", rerr)
	}
	return nil
}

// ParseIdentities reads age identities (AGE-SECRET-KEY-1... lines).
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return ids, nil
}

// writeMetadata writes a chunk's metadata: as is, or, encrypted, redacted
// in plaintext with the whole encrypted beside it.
func (r *Recorder) writeMetadata(path string, md Metadata) error {
	if len(r.cfg.Recipients) == 0 {
		return WriteJSON(path, md)
	}
	return errors.Join(r.writeSealedJSON(path, md), WriteJSON(path, redacted(md)))
}

// writeSealedJSON writes v as JSON to path: as it is, or, with recipients,
// encrypted to path.age.
func (r *Recorder) writeSealedJSON(path string, v any) error {
	if len(r.cfg.Recipients) == 0 {
		return WriteJSON(path, v)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return encryptFile(path+EncryptedExt, append(b, '\n'), r.cfg.Recipients)
}
