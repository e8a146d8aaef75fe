package recorder

// This file holds the signed evidence of a recording: the manifest of its
// chunks, signed with the gateway's Ed25519 key when the session ends.

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/botline/botline/internal/keyfile"
)

// ManifestExt ends the name of a recording's manifest,
// <recordingId>.manifest, beside its chunks.
const ManifestExt = ".manifest"

// Manifest lists every chunk of one recording session with the hashes of
// its audio and of its final metadata, signed by the gateway.
type Manifest struct {
	RecordingID string          `json:"recordingId"`
	ResourceID  string          `json:"resourceId"`
	CallID      string          `json:"callId"`
	Chunks      []ManifestChunk `json:"chunks"`
	// PublicKey is the signer's Ed25519 public key (base64); Signature
	// (base64) covers the manifest's JSON with Signature empty.
	PublicKey string `json:"publicKey"`
	Signature string `json:"signature,omitempty"`
}

// ManifestChunk is one chunk in a Manifest.
type ManifestChunk struct {
	DocumentID     string `json:"documentId"`
	Index          int    `json:"index"`
	Sha256         string `json:"sha256"`         // of the audio file
	MetadataSha256 string `json:"metadataSha256"` // of the final metadata file
}

func (m Manifest) signedBytes() []byte {
	m.Signature = ""
	b, _ := json.Marshal(m)
	return b
}

// writeManifest signs and writes the manifest of a finished session whose
// chunks' final metadata are in dir.
func writeManifest(dir string, key ed25519.PrivateKey, chunks []Metadata) error {
	if len(chunks) == 0 {
		return nil
	}
	m := Manifest{RecordingID: chunks[0].RecordingID, ResourceID: chunks[0].ResourceID, CallID: chunks[0].CallID,
		PublicKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	for _, c := range chunks {
		b, err := os.ReadFile(filepath.Join(dir, c.ChunkDocumentID+".json"))
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		sum := sha256.Sum256(b)
		m.Chunks = append(m.Chunks, ManifestChunk{DocumentID: c.ChunkDocumentID, Index: c.ChunkIndex,
			Sha256: c.Sha256, MetadataSha256: hex.EncodeToString(sum[:])})
	}
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, m.signedBytes()))
	return WriteJSON(filepath.Join(dir, m.RecordingID+ManifestExt), m)
}

// checkSignature reports whether m is signed by its PublicKey, and by
// trusted when that is set.
func (m Manifest) checkSignature(trusted ed25519.PublicKey) error {
	pub, err := base64.StdEncoding.DecodeString(m.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return errors.New("manifest has no valid public key")
	}
	if trusted != nil && !trusted.Equal(ed25519.PublicKey(pub)) {
		return errors.New("manifest is signed by another key than the trusted one")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || !ed25519.Verify(pub, m.signedBytes(), sig) {
		return errors.New("manifest signature does not verify")
	}
	return nil
}

// LoadOrCreateEvidenceKey reads the Ed25519 private key (PEM, PKCS#8) at
// path, or generates one there (owner-only) when there is no file.
func LoadOrCreateEvidenceKey(path string) (ed25519.PrivateKey, error) {
	k, err := keyfile.LoadOrCreate(path, func() (crypto.PrivateKey, error) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	})
	if err != nil {
		return nil, fmt.Errorf("evidence key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("evidence key %s: %T, want Ed25519", path, k)
	}
	return key, nil
}

// ParsePublicKey reads an Ed25519 public key: PEM (PKIX), or the base64 a
// manifest and the gateway's log show.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		if pub, ok := k.(ed25519.PublicKey); ok {
			return pub, nil
		}
		return nil, fmt.Errorf("%T, want Ed25519", k)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("not an Ed25519 public key (PEM or base64)")
	}
	return raw, nil
}
