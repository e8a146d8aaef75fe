package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/botline/botline/internal/httpjson"
)

// RequireBearer wraps h so that, when token is set, a request without
// "Authorization: Bearer <token>" gets 401. The comparison takes the same
// time whatever the token sent.
func RequireBearer(token string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !Allowed(token, r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="botline"`)
			httpjson.Error(w, http.StatusUnauthorized, "Unauthorized", "a valid bearer token is required")
			return
		}
		h(w, r)
	}
}

// Allowed reports whether r carries token as "Authorization: Bearer
// <token>", or the session cookie the recordings page's login set; with no
// token set, every request is allowed.
func Allowed(token string, r *http.Request) bool {
	if token == "" {
		return true
	}
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(SessionValue(token))) == 1
}

// SessionCookie is the cookie the recordings page's login sets: HttpOnly,
// SameSite=Strict, so no other site's page can send it.
const SessionCookie = "botline_session"

// SessionValue is the session cookie's value for token: an HMAC of it, so
// the cookie is not the token itself.
func SessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("botline recordings page session"))
	return hex.EncodeToString(m.Sum(nil))
}
