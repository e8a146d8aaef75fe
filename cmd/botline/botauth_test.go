package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/botauth"
	"github.com/golang-jwt/jwt/v5"
)

var trustMu sync.Mutex

// trustCA makes the tests' HTTP clients (http.DefaultClient) trust the
// certificate in certFile, as Node does with NODE_EXTRA_CA_CERTS.
func trustCA(t *testing.T, certFile string) {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	trustMu.Lock()
	defer trustMu.Unlock()
	tr := http.DefaultTransport.(*http.Transport)
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	if tr.TLSClientConfig.RootCAs == nil { // once used, the transport has a config of its own
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if !tr.TLSClientConfig.RootCAs.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", certFile)
	}
}

// httpsFlags makes a throwaway CA-signed certificate for 127.0.0.1 in
// dir, trusts it, and returns the flags that serve HTTPS with it.
func httpsFlags(t *testing.T, dir string) (args []string, caFile string) {
	t.Helper()
	cert, key := selfSignedCert(t, dir, "127.0.0.1")
	trustCA(t, cert)
	return []string{"--http-tls-cert", cert, "--http-tls-key", key}, cert
}

// tokenFor asks the gateway's token endpoint for appID's token, as MSAL
// does; it returns the status and the token.
func tokenFor(t *testing.T, gw *gateway, appID, password string) (int, string) {
	t.Helper()
	res, err := http.PostForm(gw.httpURL+"/botline/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {appID}, "client_secret": {password}, "scope": {gw.httpURL + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.AccessToken
}

// signed makes an RS256 token of claims with kid, signed by key.
func signed(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkChannelToken validates the token botline sent a bot the way the
// Bot Framework SDKs do: keys from the OpenID metadata's jwks_uri, RS256,
// issuer, audience the bot's app id, the serviceurl claim equal to the
// activity's serviceUrl, the key endorsed for the activity's channel.
func checkChannelToken(t *testing.T, gw *gateway, auth, appID string, a activity.Activity) {
	t.Helper()
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if code, body := gw.request(t, "GET", "/.well-known/openidconfiguration", "", ""); code != 200 || json.Unmarshal(body, &meta) != nil {
		t.Fatalf("OpenID metadata: %d %s", code, body)
	}
	res, err := http.Get(meta.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var jwks struct {
		Keys []struct {
			Kid, N, E    string
			Endorsements []string
		}
	}
	json.NewDecoder(res.Body).Decode(&jwks)
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		t.Fatalf("the bot got Authorization %q", auth)
	}
	var claims struct {
		jwt.RegisteredClaims
		ServiceURL string `json:"serviceurl"`
	}
	_, err = jwt.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		for _, k := range jwks.Keys {
			if k.Kid == tok.Header["kid"] {
				if !slices.Contains(k.Endorsements, a.ChannelID) {
					return nil, fmt.Errorf("key not endorsed for %s: %v", a.ChannelID, k.Endorsements)
				}
				n, _ := base64.RawURLEncoding.DecodeString(k.N)
				e, _ := base64.RawURLEncoding.DecodeString(k.E)
				return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
			}
		}
		return nil, fmt.Errorf("kid %v not in the JWKS", tok.Header["kid"])
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(meta.Issuer), jwt.WithAudience(appID), jwt.WithExpirationRequired())
	if err != nil || meta.Issuer != gw.httpURL || claims.ServiceURL != a.ServiceURL {
		t.Fatalf("the bot's token: %v; issuer %q, serviceurl %q for serviceUrl %q", err, meta.Issuer, claims.ServiceURL, a.ServiceURL)
	}
}

// With --bot-app-id, a Connector API call carrying no token, another app's
// token, an expired one, one signed by another key, or an unsigned one
// (alg none) gets 401 and changes nothing: the recording does not start,
// and once started does not stop. The bot's own token works.
func TestConnectorAPIRefusesBadTokens(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	key, err := botauth.LoadOrCreateKey(keyFile) // the test signs with botline's key too
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "apps")
	os.WriteFile(creds, []byte("bot-app:bot-pw\nother-app:other-pw\n"), 0o600)
	tlsArgs, _ := httpsFlags(t, dir)
	bot := startHTTPBot(t)
	gw := startGateway(t, append(tlsArgs, "--bot-endpoint", bot.url, "--bot-app-id", "bot-app", "--bot-credentials", creds,
		"--signing-key", keyFile, "--api-token", "api-tok", "--stt", "none", "--tts", "none", "--recording-notice", "none")...)
	_, _, call := dial(t, gw, 60*time.Second)
	defer call.Close()
	up := bot.next(t, "conversationUpdate", 10*time.Second)
	checkChannelToken(t, gw, up.auth, "bot-app", up.a)

	code, good := tokenFor(t, gw, "bot-app", "bot-pw")
	if code != 200 || good == "" {
		t.Fatalf("token endpoint for the bot: %d", code)
	}
	if code, _ := tokenFor(t, gw, "bot-app", "other-pw"); code != 401 {
		t.Fatalf("token endpoint with another app's password: %d, want 401", code)
	}
	_, other := tokenFor(t, gw, "other-app", "other-pw")
	kid := botauth.KeyID(&key.PublicKey)
	now := time.Now()
	claims := func(exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"iss": gw.httpURL, "aud": gw.httpURL, "appid": "bot-app", "ver": "1.0",
			"iat": exp.Add(-time.Hour).Unix(), "exp": exp.Unix()}
	}
	expired := signed(t, key, kid, claims(now.Add(-10*time.Minute)))
	foreignKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := signed(t, foreignKey, kid, claims(now.Add(time.Hour)))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims(now.Add(time.Hour)))
	none.Header["kid"] = kid
	unsigned, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	bad := map[string]string{"no token": "", "another app's token": other, "an expired token": expired,
		"a token signed by another key": forged, "alg none": unsigned, "the token botline sent the bot": strings.TrimPrefix(up.auth, "Bearer ")}

	path := "/v3/conversations/" + up.a.Conversation.ID + "/activities"
	command := func(name, id string) string {
		return fmt.Sprintf(`{"type":"command","name":%q,"value":{"commandId":%q}}`, name, id)
	}
	recording := func() float64 {
		return scrape(t, gw)[`botline_recordings_active{state="recording"}`]
	}
	gw.token = "api-tok"
	for what, tok := range bad {
		if code, body := gw.request(t, "POST", path, command(activity.CommandRecordingStart, what), tok); code != 401 {
			t.Errorf("start with %s: %d %s, want 401", what, code, body)
		}
	}
	if n := recording(); n != 0 {
		t.Fatalf("%v recordings after refused starts", n)
	}
	if code, body := gw.request(t, "POST", path, command(activity.CommandRecordingStart, "good"), good); code != 200 {
		t.Fatalf("start with the bot's token: %d %s", code, body)
	}
	res := bot.next(t, "commandResult", 10*time.Second)
	if !strings.Contains(string(res.a.Value), `"good"`) || strings.Contains(string(res.a.Value), `"error"`) {
		t.Fatalf("commandResult %s", res.a.Value)
	}
	for what, tok := range bad {
		if code, _ := gw.request(t, "POST", path, command(activity.CommandRecordingStop, what), tok); code != 401 {
			t.Errorf("stop with %s: %d, want 401", what, code)
		}
	}
	if n := recording(); n != 1 {
		t.Fatalf("%v recordings running after refused stops, want 1", n)
	}
	select {
	case r := <-bot.in:
		t.Fatalf("a refused call reached the bot: %s %s", r.a.Type, r.a.Value)
	default:
	}
}

// TestRefusesAnonymousConnectorAPI checks that botline will not serve an
// external bot's Connector API on a non-loopback address without
// --bot-app-id, and says why in one line.
func TestRefusesAnonymousConnectorAPI(t *testing.T) {
	out, err := exec.Command(binary, "--http-listen", fmt.Sprintf("0.0.0.0:%d", freePort(t)), "--api-token", "tok",
		"--bot-endpoint", "http://127.0.0.1:9/api/messages",
		"--sip-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--recordings-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--bot-app-id is required") || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		t.Fatalf("started an anonymous Connector API on 0.0.0.0: %v\n%s", err, out)
	}
}
