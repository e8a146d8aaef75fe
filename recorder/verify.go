package recorder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", filepath.Base(path), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Problem is one file that failed verification.
type Problem struct {
	File   string
	Reason string
}

// Verify checks every finished recording in dir against its metadata: the
// audio file exists and its SHA-256 matches. It also reports audio files
// with no metadata. It returns how many recordings it checked.
func Verify(dir string) (checked int, problems []Problem, err error) {
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, nil, err
	}
	sort.Strings(metas)
	described := map[string]bool{}
	for _, mp := range metas {
		b, err := os.ReadFile(mp)
		if err != nil {
			return checked, problems, err
		}
		var md Metadata
		if err := json.Unmarshal(b, &md); err != nil {
			problems = append(problems, Problem{mp, "unreadable metadata: " + err.Error()})
			continue
		}
		audio := strings.TrimSuffix(mp, ".json") + ".wav"
		described[audio] = true
		switch {
		case md.EndReason == "":
			problems = append(problems, Problem{audio, "recording was never finalized (no endReason)"})
			continue
		case md.Sha256 == "":
			problems = append(problems, Problem{audio, "metadata has no sha256"})
			continue
		}
		checked++
		sum, err := FileSHA256(audio)
		if err != nil {
			problems = append(problems, Problem{audio, err.Error()})
		} else if sum != md.Sha256 {
			problems = append(problems, Problem{audio, fmt.Sprintf("sha256 %s, metadata says %s", sum, md.Sha256)})
		}
	}
	wavs, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	for _, w := range wavs {
		if !described[w] {
			problems = append(problems, Problem{w, "no metadata"})
		}
	}
	return checked, problems, nil
}
