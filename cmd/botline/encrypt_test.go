package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/botline/botline/internal/audio"
)

// TestEncryptedRecordingEndToEnd: with --recording-recipient a SIPp call's
// recording is on disk only as age ciphertext (no run of its PCM in it,
// no caller number in the plaintext metadata); the download API serves
// that ciphertext; `botline decrypt` with the owner's identity restores a
// valid WAV holding the caller's speech; `botline verify` passes on the
// ciphertext and fails once one byte of it flips.
func TestEncryptedRecordingEndToEnd(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "owner.key")
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	gw := startGateway(t, "--default-bot-call-time", "0", "--recording-recipient", id.Recipient().String(),
		"--recording-notice", "none", "--tts", "none", "--stt", "none")
	if r := <-sippCall(t, gw); r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	if plain, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(plain) != 0 {
		t.Fatalf("plaintext audio on disk: %v", plain)
	}
	encs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav.age"))
	if len(encs) != 1 {
		t.Fatalf("encrypted recordings %v, want 1", encs)
	}
	base := strings.TrimSuffix(encs[0], ".wav.age")
	if md, _ := os.ReadFile(base + ".json"); bytes.Contains(md, []byte("14255550123")) || !bytes.Contains(md, []byte(`"scheme": "age"`)) {
		t.Fatalf("plaintext metadata:\n%s", md)
	}
	out := filepath.Join(t.TempDir(), "call.wav")
	if o, err := exec.Command(binary, "decrypt", "-identity", keyFile, "-o", out, encs[0]).CombinedOutput(); err != nil {
		t.Fatalf("botline decrypt: %v\n%s", err, o)
	}
	w := readWAV(t, out)
	if r := rmsOf(w.samples); r < 500 || w.duration < 7e9 {
		t.Fatalf("decrypted recording: RMS %.0f, %v", r, w.duration)
	}
	cipher, _ := os.ReadFile(encs[0])
	plain, _ := os.ReadFile(out)
	for off := audio.HeaderSize; off+64 <= len(plain); off += 8000 {
		if bytes.Contains(cipher, plain[off:off+64]) {
			t.Fatalf("the ciphertext holds the recording's PCM at %d", off)
		}
	}
	res, err := http.Get(gw.httpURL + "/recording/download/" + filepath.Base(base))
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(served, cipher) || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("download: %d %s, %d bytes (ciphertext %d)", res.StatusCode, res.Header.Get("Content-Type"), len(served), len(cipher))
	}
	if o, err := exec.Command(binary, "verify", gw.dir).CombinedOutput(); err != nil {
		t.Fatalf("verify of the ciphertext: %v\n%s", err, o)
	}
	cipher[len(cipher)/2] ^= 0x10
	os.WriteFile(encs[0], cipher, 0o640)
	if o, err := exec.Command(binary, "verify", gw.dir).CombinedOutput(); err == nil || !strings.Contains(string(o), "sha256") {
		t.Fatalf("verify after a flipped byte: %v\n%s", err, o)
	}
}
