package recorder

import (
	"crypto/ed25519"
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

// Verify checks every finished recording in dir: see VerifyWith; any
// manifest signature is accepted.
func Verify(dir string) (checked int, problems []Problem, err error) {
	return VerifyWith(dir, nil)
}

// VerifyWith checks every finished recording in dir against its metadata:
// the audio file exists and its SHA-256 matches; the chunks of each
// recording follow each other (indexes without a gap, each naming its
// predecessor's hash), so a removed or reordered chunk is caught; and a
// recording's signed manifest, when there is one, verifies (by trusted,
// when set) and lists exactly the chunks present, with their hashes. It
// also reports audio files with no metadata. It returns how many chunks it
// checked.
func VerifyWith(dir string, trusted ed25519.PublicKey) (checked int, problems []Problem, err error) {
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, nil, err
	}
	sort.Strings(metas)
	described := map[string]bool{}
	byRecording := map[string][]Metadata{}
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
		if md.Encryption != nil { // the ciphertext is what was hashed
			audio += EncryptedExt
		}
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
		if md.RecordingID != "" {
			byRecording[md.RecordingID] = append(byRecording[md.RecordingID], md)
		}
		sum, err := FileSHA256(audio)
		if err != nil {
			problems = append(problems, Problem{audio, err.Error()})
		} else if sum != md.Sha256 {
			problems = append(problems, Problem{audio, fmt.Sprintf("sha256 %s, metadata says %s", sum, md.Sha256)})
		}
	}
	wavs, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	encrypted, _ := filepath.Glob(filepath.Join(dir, "*.wav"+EncryptedExt))
	for _, w := range append(wavs, encrypted...) {
		if !described[w] {
			problems = append(problems, Problem{w, "no metadata"})
		}
	}
	for id, chunks := range byRecording {
		problems = append(problems, checkChain(dir, id, chunks)...)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "*"+ManifestExt))
	for _, mf := range manifests {
		problems = append(problems, checkManifest(dir, mf, byRecording, trusted)...)
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].File < problems[j].File })
	return checked, problems, nil
}

// checkChain checks that a recording's chunks run 0, 1, 2, ... and that
// each names its predecessor's hash.
func checkChain(dir, id string, chunks []Metadata) []Problem {
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].ChunkIndex < chunks[j].ChunkIndex })
	var out []Problem
	for i, c := range chunks {
		file := filepath.Join(dir, c.ChunkDocumentID+".wav")
		if i == 0 {
			if c.ChunkIndex != 0 && c.PreviousChunkSha256 != "" {
				out = append(out, Problem{file, fmt.Sprintf("recording %s: chunks 0 to %d are missing", id, c.ChunkIndex-1)})
			}
			continue
		}
		prev := chunks[i-1]
		switch {
		case c.ChunkIndex == prev.ChunkIndex:
			out = append(out, Problem{file, fmt.Sprintf("recording %s: two chunks have index %d", id, c.ChunkIndex)})
		case c.ChunkIndex != prev.ChunkIndex+1:
			out = append(out, Problem{file, fmt.Sprintf("recording %s: chunk %d is missing between %s and %s (it had sha256 %s)",
				id, prev.ChunkIndex+1, prev.ChunkDocumentID, c.ChunkDocumentID, orUnknown(c.PreviousChunkSha256, c.ChunkIndex == prev.ChunkIndex+2))})
		case c.PreviousChunkSha256 != "" && c.PreviousChunkSha256 != prev.Sha256:
			out = append(out, Problem{file, fmt.Sprintf("recording %s: chunk %d names a predecessor with sha256 %s, but chunk %d (%s) has %s: replaced or reordered",
				id, c.ChunkIndex, c.PreviousChunkSha256, prev.ChunkIndex, prev.ChunkDocumentID, prev.Sha256)})
		}
	}
	return out
}

func orUnknown(sum string, known bool) string {
	if sum == "" || !known {
		return "unknown"
	}
	return sum
}

// checkManifest checks one signed manifest against the chunks present.
func checkManifest(dir, path string, byRecording map[string][]Metadata, trusted ed25519.PublicKey) []Problem {
	var m Manifest
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return []Problem{{path, "unreadable manifest: " + err.Error()}}
	}
	if err := m.checkSignature(trusted); err != nil {
		return []Problem{{path, err.Error()}}
	}
	var out []Problem
	present := map[string]Metadata{}
	for _, c := range byRecording[m.RecordingID] {
		present[c.ChunkDocumentID] = c
	}
	for _, c := range m.Chunks {
		md, ok := present[c.DocumentID]
		if !ok {
			out = append(out, Problem{filepath.Join(dir, c.DocumentID+".wav"),
				fmt.Sprintf("recording %s: chunk %d (%s) is in the signed manifest but missing", m.RecordingID, c.Index, c.DocumentID)})
			continue
		}
		delete(present, c.DocumentID)
		mb, _ := os.ReadFile(filepath.Join(dir, c.DocumentID+".json"))
		sum := sha256.Sum256(mb)
		if md.Sha256 != c.Sha256 || md.ChunkIndex != c.Index || hex.EncodeToString(sum[:]) != c.MetadataSha256 {
			out = append(out, Problem{filepath.Join(dir, c.DocumentID+".json"),
				fmt.Sprintf("recording %s: chunk %d (%s) differs from the signed manifest", m.RecordingID, c.Index, c.DocumentID)})
		}
	}
	for id, md := range present {
		out = append(out, Problem{filepath.Join(dir, id+".wav"),
			fmt.Sprintf("recording %s: chunk %d (%s) is not in the signed manifest", m.RecordingID, md.ChunkIndex, id)})
	}
	return out
}
