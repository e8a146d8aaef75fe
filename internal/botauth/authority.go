package botauth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tenant is the path segment of botline's login URL (the bot's
// ToChannelFromBotLoginUrl is <issuer>/botline), as a tenant is in Azure's.
const Tenant = "botline"

// Config configures an Authority.
type Config struct {
	// Issuer is every token's "iss" and the base of the metadata URLs,
	// e.g. https://gw.example.com:8443 (the bot's ToBotFromChannelTokenIssuer).
	Issuer string
	// Scope is the audience of the tokens bots get to call the Connector
	// API (the bot's ToChannelFromBotOAuthScope); default Issuer.
	Scope string
	// BotAppID is the app id of the bot botline's conversations belong to:
	// the audience of the tokens sent to it, and the only app whose tokens
	// the Connector API takes.
	BotAppID string
	// Credentials are the app ids and passwords the token endpoint accepts
	// (an app may have several passwords while one is rotated).
	Credentials map[string][]string
	// Key signs every token; its public half is served as the JWKS.
	Key *rsa.PrivateKey
	// ChannelID is the endorsement on the key: bots check it against the
	// activity's channelId.
	ChannelID string
	// Lifetime of a token; default one hour.
	Lifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Authority signs and checks botline's Bot Framework tokens.
type Authority struct {
	cfg Config
	kid string

	mu    sync.Mutex
	cache map[string]cachedToken // serviceUrl -> token sent to the bot
}

type cachedToken struct {
	token   string
	refresh time.Time
}

// New returns the authority of cfg.
func New(cfg Config) (*Authority, error) {
	if cfg.Key == nil {
		return nil, errors.New("botauth: no signing key")
	}
	if cfg.Issuer == "" || cfg.BotAppID == "" {
		return nil, errors.New("botauth: issuer and bot app id are required")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.Scope == "" {
		cfg.Scope = cfg.Issuer
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authority{cfg: cfg, kid: KeyID(&cfg.Key.PublicKey), cache: map[string]cachedToken{}}, nil
}

// BotAppID is the app id of the bot the conversations belong to.
func (a *Authority) BotAppID() string { return a.cfg.BotAppID }

// sign makes an RS256 token of claims with iss, iat, nbf and exp set.
func (a *Authority) sign(claims jwt.MapClaims) (string, time.Time, error) {
	now := a.cfg.Now()
	exp := now.Add(a.cfg.Lifetime)
	claims["iss"] = a.cfg.Issuer
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Add(-5 * time.Minute).Unix() // clocks drift
	claims["exp"] = exp.Unix()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = a.kid
	s, err := t.SignedString(a.cfg.Key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// ChannelToken is the bearer token for a request to the bot about a
// conversation whose serviceUrl is serviceURL: audience the bot's app id
// and the serviceUrl as a claim, as the Bot Framework's channels send. A
// token is reused until half its life is gone.
func (a *Authority) ChannelToken(serviceURL string) (string, error) {
	now := a.cfg.Now()
	a.mu.Lock()
	c, ok := a.cache[serviceURL]
	a.mu.Unlock()
	if ok && now.Before(c.refresh) {
		return c.token, nil
	}
	// "aud" a single string: botbuilder compares it to the app id as is.
	tok, exp, err := a.sign(jwt.MapClaims{"aud": a.cfg.BotAppID, "serviceurl": serviceURL})
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.cache[serviceURL] = cachedToken{token: tok, refresh: now.Add(exp.Sub(now) / 2)}
	a.mu.Unlock()
	return tok, nil
}

// appToken is the access token the token endpoint issues to appID.
func (a *Authority) appToken(appID string) (string, time.Time, error) {
	return a.sign(jwt.MapClaims{"aud": a.cfg.Scope, "appid": appID, "azp": appID, "ver": "1.0", "tid": Tenant})
}

// Errors of Verify.
var (
	ErrNoToken  = errors.New("no bearer token")
	ErrBadToken = errors.New("invalid token")
)

// appClaims are the claims of a token the token endpoint issued.
type appClaims struct {
	jwt.RegisteredClaims
	AppID string `json:"appid"`
}

// Verify checks the "Authorization: Bearer <token>" value of a Connector API
// call: an RS256 signature by botline's key, botline as issuer, the
// Connector API's scope as audience, not expired. It returns the app id the
// token was issued to.
func (a *Authority) Verify(authorization string) (string, error) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return "", ErrNoToken
	}
	var c appClaims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != a.kid {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		return &a.cfg.Key.PublicKey, nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithIssuer(a.cfg.Issuer),
		jwt.WithAudience(a.cfg.Scope), jwt.WithExpirationRequired(), jwt.WithLeeway(time.Minute),
		jwt.WithTimeFunc(a.cfg.Now))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if c.AppID == "" {
		return "", fmt.Errorf("%w: no appid claim", ErrBadToken)
	}
	return c.AppID, nil
}
