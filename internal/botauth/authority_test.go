package botauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testAuthority(t *testing.T) *Authority {
	t.Helper()
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Issuer: "https://gw.test", BotAppID: "bot-app", Key: key, ChannelID: "telephony",
		Credentials: map[string][]string{"bot-app": {"old-pw", "bot-pw"}, "other-app": {"other-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// token asks the token endpoint as MSAL does.
func token(t *testing.T, h http.Handler, form url.Values) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/botline/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func creds(id, secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {"https://gw.test/.default"}}
}

func TestTokenEndpointAndVerify(t *testing.T) {
	a := testAuthority(t)
	mux := http.NewServeMux()
	a.Register(mux)
	for _, pw := range []string{"old-pw", "bot-pw"} { // both passwords while rotating
		code, body := token(t, mux, creds("bot-app", pw))
		tok, _ := body["access_token"].(string)
		if code != 200 || body["token_type"] != "Bearer" || tok == "" {
			t.Fatalf("token for bot-app/%s: %d %v", pw, code, body)
		}
		if app, err := a.Verify("Bearer " + tok); err != nil || app != "bot-app" {
			t.Fatalf("Verify: %q %v", app, err)
		}
	}
	for name, c := range map[string]struct {
		form url.Values
		code int
		err  string
	}{
		"wrong password": {creds("bot-app", "nope"), 401, "invalid_client"},
		"unknown app":    {creds("who", "bot-pw"), 401, "invalid_client"},
		"empty password": {creds("bot-app", ""), 401, "invalid_client"},
		"other grant":    {url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type"},
		"other scope":    {url.Values{"grant_type": {"client_credentials"}, "client_id": {"bot-app"}, "client_secret": {"bot-pw"}, "scope": {"https://api.botframework.com/.default"}}, 400, "invalid_scope"},
	} {
		if code, body := token(t, mux, c.form); code != c.code || body["error"] != c.err {
			t.Errorf("%s: %d %v, want %d %s", name, code, body, c.code, c.err)
		}
	}
}

// Every kind of bad token is refused: none, another app's, expired, signed
// by another key, unsigned (alg none), HS256 with the public key as secret,
// and one botline sent a bot (audience the bot, not the Connector API).
func TestRequireRefuses(t *testing.T) {
	a := testAuthority(t)
	reached := false
	h := a.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	good, _, _ := a.appToken("bot-app")
	other, _, _ := a.appToken("other-app")
	pastCfg := a.cfg
	pastCfg.Now = func() time.Time { return time.Now().Add(-3 * time.Hour) }
	past, _ := New(pastCfg)
	expired, _, _ := past.appToken("bot-app")
	foreignKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	foreignCfg := a.cfg
	foreignCfg.Key = foreignKey
	foreign, _ := New(foreignCfg)
	foreign.kid = a.kid // claims botline's key id, signed by another key
	forged, _, _ := foreign.appToken("bot-app")
	claims := jwt.MapClaims{"iss": "https://gw.test", "aud": "https://gw.test", "appid": "bot-app", "exp": time.Now().Add(time.Hour).Unix()}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	none.Header["kid"] = a.kid
	unsigned, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["kid"] = a.kid
	hmacked, _ := hs.SignedString([]byte(b64(a.cfg.Key.PublicKey.N.Bytes())))
	toBot, _ := a.ChannelToken("https://gw.test/")
	for name, auth := range map[string]string{
		"no token": "", "not bearer": "Basic Ym90LWFwcDpib3QtcHc=", "another app": "Bearer " + other,
		"expired": "Bearer " + expired, "another key": "Bearer " + forged, "alg none": "Bearer " + unsigned,
		"HS256": "Bearer " + hmacked, "channel's token": "Bearer " + toBot, "garbage": "Bearer abc.def.ghi",
	} {
		reached = false
		req := httptest.NewRequest("POST", "/v3/conversations/x/activities", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 || reached {
			t.Errorf("%s: %d, reached %v; want 401 and not reached", name, rec.Code, reached)
		}
	}
	req := httptest.NewRequest("POST", "/v3/conversations/x/activities", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !reached {
		t.Fatal("a good token did not get through")
	}
	if _, err := a.Verify(""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Verify(\"\") = %v", err)
	}
}

func TestKeyKeptAcrossRestarts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k", "key.pem")
	k1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load: %v, same key %v", err, err == nil && k1.Equal(k2))
	}
}
