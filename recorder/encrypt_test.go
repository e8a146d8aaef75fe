package recorder

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/botline/botline/internal/audio"
)

// record makes one recording of the same frames (a tone, paused once)
// with cfg and returns its info.
func record(t *testing.T, cfg Config) Info {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	cfg.Now, cfg.CallID, cfg.CallerNumber, cfg.Participants = clk.now, "call-1", "+14255550123", []string{"+14255550123", "bot"}
	r := New(cfg)
	if _, err := r.Do(Start); err != nil {
		t.Fatal(err)
	}
	tone := audio.Tone(440, 3*time.Second, 8000, 8000)
	silence := frame(0)
	for i := 0; i+160 <= len(tone); i += 160 {
		if i == 160*50 {
			r.Do(Pause)
		}
		if i == 160*60 {
			r.Do(Resume)
		}
		r.WriteAudio(tone[i:i+160], silence)
		clk.t = clk.t.Add(20 * time.Millisecond)
	}
	info, err := r.Do(Stop)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// An encrypted recording decrypts to the very bytes the unencrypted path
// writes; its ciphertext holds no run of the tone's PCM; its plaintext
// metadata keeps no number, the encrypted one all; and the hash in the
// metadata is the ciphertext's, so verify checks what is on disk.
func TestEncryptedRecording(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	plainDir, encDir := t.TempDir(), t.TempDir()
	plain := record(t, Config{Dir: plainDir})
	enc := record(t, Config{Dir: encDir, Recipients: []age.Recipient{id.Recipient()}, RecipientKeys: []string{id.Recipient().String()}})
	if !strings.HasSuffix(enc.AudioPath, ".wav.age") {
		t.Fatalf("encrypted audio at %s", enc.AudioPath)
	}
	want, _ := os.ReadFile(plain.AudioPath)
	cipher, _ := os.ReadFile(enc.AudioPath)
	if bytes.Contains(cipher, want[audio.HeaderSize+1000:audio.HeaderSize+1064]) {
		t.Fatal("the ciphertext holds the tone's PCM")
	}
	var got bytes.Buffer
	if err := Decrypt(bytes.NewReader(cipher), &got, []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("decrypted %d bytes, the unencrypted recording has %d; they differ", got.Len(), len(want))
	}
	var md, full Metadata
	b, _ := os.ReadFile(enc.MetadataPath)
	json.Unmarshal(b, &md)
	if strings.Contains(string(b), "+1425") || md.Encryption == nil || md.Encryption.Recipients[0] != id.Recipient().String() {
		t.Fatalf("plaintext metadata %s", b)
	}
	ef, _ := os.Open(enc.MetadataPath + EncryptedExt)
	var fb bytes.Buffer
	if err := Decrypt(ef, &fb, []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	ef.Close()
	json.Unmarshal(fb.Bytes(), &full)
	if full.CallerNumber != "+14255550123" || len(full.PauseResumeIntervals) != 1 || full.Sha256 != md.Sha256 {
		t.Fatalf("encrypted metadata %s", fb.Bytes())
	}
	if checked, problems, _ := Verify(encDir); checked != 1 || len(problems) != 0 {
		t.Fatalf("verify: %d checked, %v", checked, problems)
	}
	cipher[len(cipher)/2] ^= 1
	os.WriteFile(enc.AudioPath, cipher, 0o640)
	if _, problems, _ := Verify(encDir); len(problems) != 1 || filepath.Base(problems[0].File) != filepath.Base(enc.AudioPath) {
		t.Fatalf("verify after one flipped byte: %v", problems)
	}
	if err := Decrypt(bytes.NewReader(cipher), &bytes.Buffer{}, []age.Identity{id}); err == nil {
		t.Fatal("a flipped byte decrypted without an error")
	}
}
