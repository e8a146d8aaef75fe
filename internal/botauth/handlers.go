package botauth

import (
	"crypto/subtle"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/botline/botline/internal/auth"
	"github.com/botline/botline/internal/httpjson"
)

// Register serves the authority's endpoints on mux:
//
//	GET  /.well-known/openidconfiguration        OpenID metadata bots validate botline's tokens with
//	GET  /.well-known/keys                        the JWKS (the key, endorsed for ChannelID)
//	GET  /botline/v2.0/.well-known/openid-configuration   the login authority's metadata (MSAL)
//	POST /botline/oauth2/v2.0/token               client credentials -> access token
func (a *Authority) Register(mux *http.ServeMux) {
	for _, p := range []string{"/.well-known/openidconfiguration", "/.well-known/openid-configuration"} {
		mux.HandleFunc("GET "+p, a.serveMetadata)
	}
	mux.HandleFunc("GET /.well-known/keys", a.serveKeys)
	for _, p := range []string{"/" + Tenant + "/v2.0/.well-known/openid-configuration", "/" + Tenant + "/.well-known/openid-configuration"} {
		mux.HandleFunc("GET "+p, a.serveAuthorityMetadata)
	}
	for _, p := range []string{"/" + Tenant + "/oauth2/v2.0/token", "/" + Tenant + "/oauth2/token"} {
		mux.HandleFunc("POST "+p, a.serveToken)
	}
}

func (a *Authority) tokenEndpoint() string { return a.cfg.Issuer + "/" + Tenant + "/oauth2/v2.0/token" }

func (a *Authority) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{
		"issuer":                                a.cfg.Issuer,
		"jwks_uri":                              a.cfg.Issuer + "/.well-known/keys",
		"token_endpoint":                        a.tokenEndpoint(),
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
	})
}

func (a *Authority) serveAuthorityMetadata(w http.ResponseWriter, _ *http.Request) {
	base := a.cfg.Issuer + "/" + Tenant
	httpjson.Write(w, http.StatusOK, map[string]any{
		"issuer":                                a.cfg.Issuer,
		"token_endpoint":                        a.tokenEndpoint(),
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize", // not served: client credentials only
		"jwks_uri":                              a.cfg.Issuer + "/.well-known/keys",
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
	})
}

func (a *Authority) serveKeys(w http.ResponseWriter, _ *http.Request) {
	pub := &a.cfg.Key.PublicKey
	key := map[string]any{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": a.kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
	if a.cfg.ChannelID != "" {
		key["endorsements"] = []string{a.cfg.ChannelID}
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	httpjson.Write(w, http.StatusOK, map[string]any{"keys": []any{key}})
}

// oauthError answers as RFC 6749 5.2 says.
func oauthError(w http.ResponseWriter, code int, kind, desc string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="botline"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, code, map[string]string{"error": kind, "error_description": desc})
}

// serveToken is the client credentials grant (RFC 6749 4.4): the client
// authenticates with its app id and password (form fields or HTTP Basic)
// and gets a token for the Connector API's scope.
func (a *Authority) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported, not "+quote(g))
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if auth.Throttled(r) {
		auth.TooMany(w)
		return
	}
	if !a.checkSecret(id, secret) {
		auth.Failed(r)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	if !a.scopeOK(r.PostForm.Get("scope")) {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "the scope must be "+a.cfg.Scope+"/.default")
		return
	}
	tok, exp, err := a.appToken(id)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	secs := int(time.Until(exp).Seconds())
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
	})
}

func quote(s string) string { return `"` + s + `"` }

// checkSecret compares secret with every password of id, each in constant
// time.
func (a *Authority) checkSecret(id, secret string) bool {
	ok := false
	for _, p := range a.cfg.Credentials[id] {
		if subtle.ConstantTimeCompare([]byte(p), []byte(secret)) == 1 {
			ok = true
		}
	}
	return ok && secret != ""
}

// scopeOK accepts the scope as MSAL asks for it ("<scope>/.default") or
// bare; case and a trailing slash on the scope do not matter.
func (a *Authority) scopeOK(scope string) bool {
	want := strings.TrimSuffix(strings.ToLower(a.cfg.Scope), "/")
	for _, s := range strings.Fields(scope) {
		s = strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(s), "/.default"), "/")
		if s == want {
			return true
		}
	}
	return false
}

// Require wraps the Connector API: a call without a valid token issued to
// the conversations' bot gets 401 and reaches nothing.
func (a *Authority) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appID, err := a.Verify(r.Header.Get("Authorization"))
		if err == nil && appID != a.cfg.BotAppID {
			err = errors.New("the token was issued to app " + quote(appID) + ", not to this channel's bot")
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="botline"`)
			httpjson.Error(w, http.StatusUnauthorized, "Unauthorized", err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}
