package recorder

import (
	"os"
	"strings"
	"testing"
)

// TestVerifyCatchesOneFlippedByte records a real file, checks it verifies,
// flips one byte of its audio and checks verification names it.
func TestVerifyCatchesOneFlippedByte(t *testing.T) {
	dir := t.TempDir()
	r := New(Config{Dir: dir, CallerNumber: "+1425", DialedNumber: "+1800", Direction: "inbound"})
	info, _ := r.Do(Start)
	for range 20 {
		r.WriteAudio(frame(300), frame(0))
	}
	if _, err := r.Do(Stop); err != nil {
		t.Fatal(err)
	}
	checked, problems, err := Verify(dir)
	if err != nil || checked != 1 || len(problems) != 0 {
		t.Fatalf("clean: checked %d, problems %v, err %v", checked, problems, err)
	}
	b, _ := os.ReadFile(info.AudioPath)
	b[len(b)/2] ^= 0x01
	os.WriteFile(info.AudioPath, b, 0o640)
	_, problems, _ = Verify(dir)
	if len(problems) != 1 || problems[0].File != info.AudioPath || !strings.Contains(problems[0].Reason, "sha256") {
		t.Fatalf("flipped byte: %v", problems)
	}
}
