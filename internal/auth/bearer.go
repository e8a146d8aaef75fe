package auth

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/botline/botline/internal/httpjson"
)

// RequireBearer wraps h so that, when token is set, a request without
// "Authorization: Bearer <token>" (or the recordings page's session) gets
// 401. The comparison takes the same time whatever the token sent. A
// request that changes state on the strength of the session cookie alone
// must come from this site's own page (its Origin, or else its Referer, is
// this host): another site's form or script gets 403.
func RequireBearer(token string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token != "" && Throttled(r) {
			TooMany(w)
			return
		}
		if !Allowed(token, r) {
			if bearer(r) || hasCookie(r) {
				Failed(r) // a wrong secret, not a missing one
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="botline"`)
			httpjson.Error(w, http.StatusUnauthorized, "Unauthorized", "a valid bearer token is required")
			return
		}
		if token != "" && !bearer(r) && changesState(r) && !sameOrigin(r) {
			httpjson.Error(w, http.StatusForbidden, "CrossSiteRequest", "a request from another site's page is refused")
			return
		}
		h(w, r)
	}
}

func hasCookie(r *http.Request) bool {
	_, err := r.Cookie(SessionCookie)
	return err == nil
}

// bearer reports whether r carries an Authorization bearer token (which a
// browser never adds by itself).
func bearer(r *http.Request) bool {
	_, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok
}

func changesState(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// sameOrigin reports whether r's Origin (or, without one, its Referer)
// names this host; a request with neither is refused.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		from = r.Header.Get("Referer")
	}
	u, err := url.Parse(from)
	return from != "" && err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
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
	return err == nil && validSession(c.Value, token)
}
