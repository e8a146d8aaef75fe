package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// SessionCookie is the cookie the recordings page's login sets: HttpOnly,
// SameSite=Strict, so no other site's page can send it.
const SessionCookie = "botline_session"

// maxSessions bounds the sessions kept; past it the oldest goes.
const maxSessions = 10000

// sessions are the recordings page's logins: random ids kept in this
// process until they expire or log out, so a cookie says nothing of the
// token, differs from one login to the next, and dies at logout. (In a
// cluster a session is valid on the node that issued it.)
var sessions = sessionStore{byID: map[string]session{}}

type sessionStore struct {
	mu   sync.Mutex
	byID map[string]session
}

type session struct {
	token   [32]byte // SHA-256 of the token it was opened with
	expires time.Time
}

// NewSession opens a session for token, valid for life, and returns the
// cookie value that names it.
func NewSession(token string, life time.Duration) string {
	b := make([]byte, 32)
	rand.Read(b)
	id := hex.EncodeToString(b)
	sessions.mu.Lock()
	defer sessions.mu.Unlock()
	now := time.Now()
	if len(sessions.byID) >= maxSessions {
		var oldest string
		for k, s := range sessions.byID {
			if !s.expires.After(now) {
				delete(sessions.byID, k)
			} else if oldest == "" || s.expires.Before(sessions.byID[oldest].expires) {
				oldest = k
			}
		}
		if len(sessions.byID) >= maxSessions {
			delete(sessions.byID, oldest)
		}
	}
	sessions.byID[id] = session{token: sha256.Sum256([]byte(token)), expires: now.Add(life)}
	return id
}

// EndSession closes the session r's cookie names (logout).
func EndSession(r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		sessions.mu.Lock()
		delete(sessions.byID, c.Value)
		sessions.mu.Unlock()
	}
}

// validSession reports whether id names a live session opened with token.
func validSession(id, token string) bool {
	sessions.mu.Lock()
	s, ok := sessions.byID[id]
	if ok && !s.expires.After(time.Now()) {
		delete(sessions.byID, id)
		ok = false
	}
	sessions.mu.Unlock()
	want := sha256.Sum256([]byte(token))
	return ok && subtle.ConstantTimeCompare(s.token[:], want[:]) == 1
}
