package recorder

import (
	"crypto/sha256"

	"github.com/botline/botline/internal/randid"
)

// ValidDocumentID reports whether id has the shape botline issues (26
// lower-case base32 characters); anything else, ".." and "/" included, is
// refused before the file system is touched.
func ValidDocumentID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// NodeTagLen is how many leading characters of an id name the node that
// issued it.
const NodeTagLen = 4

// NodeTag is the tag a node puts at the start of every recording, chunk
// and conversation id it issues (the first 20 bits of the SHA-256 of its
// node id, in the ids' alphabet), so any node can tell which one owns an
// id without asking. "" (no node id) tags nothing.
func NodeTag(nodeID string) string {
	if nodeID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(nodeID))
	return randid.Encode(sum[:])[:NodeTagLen]
}

// NewID returns a new id starting with tag; the other 106 or more bits are
// random.
func NewID(tag string) string {
	id := randid.New()
	return tag + id[len(tag):]
}

// IDTag returns the node tag an id starts with ("" for a malformed id).
func IDTag(id string) string {
	if !ValidDocumentID(id) {
		return ""
	}
	return id[:NodeTagLen]
}
