package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
)

// TestEvidenceChain: a SIPp call recorded in 2 s chunks verifies against
// the gateway's evidence key (hashes, chain, signed manifest). With the
// middle chunk of three removed, verify fails naming it (by index and
// hash from the chain alone, by document id from the manifest); with the last
// one removed (no successor to miss it), the signed manifest names it;
// and a manifest checked against another key fails.
func TestEvidenceChain(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "evidence.pem")
	key, err := recorder.LoadOrCreateEvidenceKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	hook := startWebhook(t, "127.0.0.1:0", 0)
	gw := startGateway(t, "--default-bot-call-time", "0", "--recording-chunk-max", "3s", "--evidence-key", keyFile,
		"--events-url", hook.url, "--recording-notice", "none", "--tts", "none", "--stt", "none")
	if r := <-sippCall(t, gw); r.err != nil {
		t.Fatalf("sipp: %v\n%s", r.err, r.out)
	}
	chunks := hook.next(t, 15*time.Second).Data.RecordingStorageInfo.RecordingChunks
	if len(chunks) != 3 {
		t.Fatalf("%d chunks for an 8 s call in 3 s chunks, want 3", len(chunks))
	}
	verify := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append(append([]string{"verify"}, args...), gw.dir)...).CombinedOutput()
		return string(out), err
	}
	if out, err := verify("-key", pub); err != nil {
		t.Fatalf("verify of the untouched recording: %v\n%s", err, out)
	}
	for i := 1; i < 3; i++ {
		md := readMetadata(t, filepath.Join(gw.dir, chunks[i].DocumentID+".json"))
		prev := readMetadata(t, filepath.Join(gw.dir, chunks[i-1].DocumentID+".json"))
		if md.PreviousChunkSha256 == "" || md.PreviousChunkSha256 != prev.Sha256 {
			t.Fatalf("chunk %d names predecessor %q, chunk %d's sha256 is %q", i, md.PreviousChunkSha256, i-1, prev.Sha256)
		}
	}

	// hide moves a chunk's files away and returns a function putting them back.
	hide := func(id string) func() {
		aside := t.TempDir()
		for _, ext := range []string{".wav", ".json"} {
			if err := os.Rename(filepath.Join(gw.dir, id+ext), filepath.Join(aside, id+ext)); err != nil {
				t.Fatal(err)
			}
		}
		return func() {
			for _, ext := range []string{".wav", ".json"} {
				os.Rename(filepath.Join(aside, id+ext), filepath.Join(gw.dir, id+ext))
			}
		}
	}
	manifest := filepath.Join(gw.dir, chunks[0].DocumentID+recorder.ManifestExt)
	keep, _ := os.ReadFile(manifest)
	os.Remove(manifest) // the chain alone catches a middle chunk
	middle := readMetadata(t, filepath.Join(gw.dir, chunks[1].DocumentID+".json"))
	restore := hide(chunks[1].DocumentID)
	out, err := verify()
	if err == nil || !strings.Contains(out, "chunk 1 is missing") || !strings.Contains(out, middle.Sha256) {
		t.Fatalf("verify with the middle chunk removed, no manifest: %v\n%s", err, out)
	}
	os.WriteFile(manifest, keep, 0o640)
	if out, err := verify("-key", pub); err == nil || !strings.Contains(out, "chunk 1 ("+chunks[1].DocumentID+") is in the signed manifest but missing") {
		t.Fatalf("verify with the middle chunk removed: %v\n%s", err, out)
	}
	restore()
	restore = hide(chunks[2].DocumentID)
	if out, err := verify("-key", pub); err == nil || !strings.Contains(out, "chunk 2 ("+chunks[2].DocumentID+") is in the signed manifest but missing") {
		t.Fatalf("verify with the last chunk removed: %v\n%s", err, out)
	}
	restore()
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if out, err := verify("-key", base64.StdEncoding.EncodeToString(otherPub)); err == nil || !strings.Contains(out, "signed by another key") {
		t.Fatalf("verify against another key: %v\n%s", err, out)
	}
	if out, err := verify("-key", pub); err != nil {
		t.Fatalf("verify after putting everything back: %v\n%s", err, out)
	}
}
