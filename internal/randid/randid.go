package randid

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// New returns 128 random bits as 26 lower-case base32 characters, safe in a
// URL path and a file name.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return Encode(b[:])
}

// Encode writes b in the ids' alphabet: lower-case base32, no padding.
func Encode(b []byte) string {
	return strings.ToLower(enc.EncodeToString(b))
}
