package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/botline/botline/internal/credfile"
	"github.com/botline/botline/internal/ratelimit"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceLife is how long a challenge's nonce may be answered.
const nonceLife = 5 * time.Minute

// DigestAuth authenticates new INVITEs with SIP digest authentication
// (RFC 3261 section 22; SHA-256 of RFC 8760 on request).
// Its nonces are signed and dated, so a challenge keeps no state; each
// nonce is spent by its first use, right or wrong, and a spent or expired
// one is challenged again (stale=true) whatever the password (no oracle).
// The digest's uri must name the Request-URI's host (and user, if it
// gives one). Wrong
// answers lock out their source (outside the allow list) and their user
// for a while.
type DigestAuth struct {
	realm string
	// algorithms are the challenges sent, most preferred first (default
	// MD5 alone: see WithAlgorithms).
	algorithms []string
	users      map[string]string // user -> password
	key        [32]byte          // signs nonces

	mu   sync.Mutex
	used map[string]time.Time // spent nonces, until they expire
	// bySource and byUser lock out wrong answers: a source outside the
	// allow list after 10 within a minute, a user after 30 from anywhere;
	// for five minutes.
	bySource, byUser ratelimit.Lockout
}

// NewDigestAuth returns an authenticator for realm and users (user ->
// password).
func NewDigestAuth(realm string, users map[string]string) *DigestAuth {
	a := &DigestAuth{realm: realm, users: users, used: map[string]time.Time{}, algorithms: []string{"MD5"},
		bySource: ratelimit.Lockout{Max: 10, Window: time.Minute, Lock: 5 * time.Minute},
		byUser:   ratelimit.Lockout{Max: 30, Window: time.Minute, Lock: 5 * time.Minute}}
	if _, err := rand.Read(a.key[:]); err != nil {
		panic(fmt.Sprintf("sip digest key: %v", err)) // crypto/rand never fails on Linux
	}
	return a
}

// SetAlgorithms sets the challenges a 401 carries, most preferred first:
// MD5 and SHA-256 (RFC 8760). A client must take the first it supports;
// some (baresip 1.0, on libre) refuse the whole challenge when any is
// SHA-256, so MD5 alone is the default.
func (a *DigestAuth) SetAlgorithms(algs []string) error {
	if len(algs) == 0 {
		return errors.New("no digest algorithm")
	}
	for i, alg := range algs {
		alg = strings.ToUpper(strings.TrimSpace(alg))
		if alg != "MD5" && alg != "SHA-256" {
			return fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", alg)
		}
		algs[i] = alg
	}
	a.algorithms = algs
	return nil
}

// LoadDigestAuth reads "user:password" lines (# starts a comment) from
// path.
func LoadDigestAuth(path, realm string) (*DigestAuth, error) {
	entries, err := credfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("sip credentials: %w", err)
	}
	users := map[string]string{}
	for _, e := range entries {
		users[e.Name] = e.Password
	}
	return NewDigestAuth(realm, users), nil
}

// authVerdict is what check decided.
type authVerdict int

const (
	authOK        authVerdict = iota
	authChallenge             // no or unusable credentials: 401 with a fresh nonce
	authStale                 // spent or expired nonce, whatever the password: 401 stale=true
	authForbidden             // wrong user, password or uri: 403
	authLockedOut             // too many wrong answers from the source or for the user: 403
)

// check authenticates req from src (exempt: in the allow list, so not
// locked out by source); it returns the user on authOK.
func (a *DigestAuth) check(req *sip.Request, src netip.Addr, exempt bool, now time.Time) (string, authVerdict) {
	h := req.GetHeader("Authorization")
	if h == nil {
		h = req.GetHeader("Proxy-Authorization")
	}
	if h == nil {
		return "", authChallenge
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Realm != a.realm {
		return "", authChallenge
	}
	alg := strings.ToUpper(cred.Algorithm)
	if alg == "" {
		alg = "MD5"
	}
	if !slices.Contains(a.algorithms, alg) { // only what we offered: no downgrade
		return "", authChallenge
	}
	issued, ok := a.verifyNonce(cred.Nonce)
	if !ok {
		return "", authChallenge
	}
	srcKey, userKey := src.String(), cred.Username
	if (!exempt && a.bySource.Locked(srcKey, now)) || a.byUser.Locked(userKey, now) {
		return "", authLockedOut
	}
	// Any use spends the nonce: one guess per challenge, and a spent or
	// expired nonce gets the same answer whatever the password.
	if now.Sub(issued) > nonceLife || !a.spend(cred.Nonce, issued.Add(nonceLife), now) {
		return "", authStale
	}
	pass, known := a.users[cred.Username]
	if !known || !sameTarget(cred.URI, req.Recipient) {
		a.fail(srcKey, userKey, exempt, now)
		return "", authForbidden
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{Method: req.Method.String(), URI: cred.URI,
		Username: cred.Username, Password: pass, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) != 1 {
		a.fail(srcKey, userKey, exempt, now)
		return "", authForbidden
	}
	return cred.Username, authOK
}

// sameTarget reports whether a digest's uri names the request's target:
// its host, and its user when it gives one (SIPp's default uri is the
// host alone). A credential computed for another target is not one for
// this request.
func sameTarget(uri string, target sip.Uri) bool {
	var u sip.Uri
	if sip.ParseUri(uri, &u) != nil {
		return false
	}
	return (u.User == "" || u.User == target.User) && strings.EqualFold(u.Host, target.Host)
}

// fail counts a wrong answer for the source (unless exempt) and the user.
func (a *DigestAuth) fail(srcKey, userKey string, exempt bool, now time.Time) {
	if !exempt {
		a.bySource.Fail(srcKey, now)
	}
	a.byUser.Fail(userKey, now)
}

// spend marks a nonce used; it reports false if it already was.
func (a *DigestAuth) spend(nonce string, expires, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.used[nonce]; ok {
		return false
	}
	if len(a.used) >= 1024 {
		for n, exp := range a.used {
			if now.After(exp) {
				delete(a.used, n)
			}
		}
	}
	a.used[nonce] = expires
	return true
}

// challenge is the 401 for req: one WWW-Authenticate per algorithm, in
// order of preference (RFC 8760: a client takes the first it supports).
func (a *DigestAuth) challenge(req *sip.Request, stale bool, now time.Time) *sip.Response {
	res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	nonce := a.nonce(now)
	for _, alg := range a.algorithms {
		c := digest.Challenge{Realm: a.realm, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", c.String()))
	}
	return res
}

// nonce is base64url(issued unix nanoseconds, 8 random bytes, 16 bytes of
// HMAC-SHA256 over both).
func (a *DigestAuth) nonce(now time.Time) string {
	var b [32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], a.sign(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *DigestAuth) verifyNonce(n string) (time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 32 || !hmac.Equal(b[16:], a.sign(b[:16])) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))), true
}

func (a *DigestAuth) sign(b []byte) []byte {
	m := hmac.New(sha256.New, a.key[:])
	m.Write(b)
	return m.Sum(nil)[:16]
}
