// Package auth guards botline's HTTP routes.
package auth

import (
	"crypto/subtle"
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
// <token>"; with no token set, every request is allowed.
func Allowed(token string, r *http.Request) bool {
	if token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
