package botauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/botline/botline/internal/keyfile"
)

// LoadOrCreateKey reads the RSA private key at path (PEM, PKCS#8 or
// PKCS#1). When there is no file, it generates a 2048-bit key and writes it
// there, readable by the owner only, so tokens signed before a restart stay
// valid after it.
func LoadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	k, err := keyfile.LoadOrCreate(path, func() (crypto.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: %T, want an RSA key (RS256)", path, k)
	}
	return rk, nil
}

// KeyID is the RFC 7638 thumbprint of pub: the "kid" of its tokens and of
// its entry in the JWKS.
func KeyID(pub *rsa.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 3.2).
	j := `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(j))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
