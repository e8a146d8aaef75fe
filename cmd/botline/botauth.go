package main

// This file reads the flags of Bot Framework authentication (botline as
// its own token authority) and of HTTPS.

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/botauth"
	"github.com/botline/botline/internal/httpjson"
)

// authOptions are the flags of bot authentication and HTTPS.
type authOptions struct {
	appID, appPassword, credentials string
	signingKey, scope               string
	tlsCert, tlsKey                 string
}

func (o *authOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.appID, "bot-app-id", "", "the bot's app id (MicrosoftAppId): botline signs the tokens it sends the bot for it, and the Connector API takes only this app's tokens; empty = anonymous, loopback only")
	fs.StringVar(&o.appPassword, "bot-app-password", "", "the bot's password (MicrosoftAppPassword), for botline's token endpoint")
	fs.StringVar(&o.credentials, "bot-credentials", "", "file of appId:password lines the token endpoint accepts (several passwords of one app while rotating)")
	fs.StringVar(&o.signingKey, "signing-key", "", "RSA key (PEM) that signs botline's tokens (default <recordings-dir>/.auth/signing-key.pem, generated at first start)")
	fs.StringVar(&o.scope, "bot-oauth-scope", "", "audience of the tokens bots get for the Connector API: the bot's ToChannelFromBotOAuthScope (default --public-url)")
	fs.StringVar(&o.tlsCert, "http-tls-cert", "", "certificate (PEM) to serve --http-listen over HTTPS; with --http-tls-key")
	fs.StringVar(&o.tlsKey, "http-tls-key", "", "private key (PEM) of --http-tls-cert")
}

// minSecret is the shortest secret botline takes when its HTTP listener is
// reachable from other machines: a short one is guessed.
const minSecret = 16

// authority returns the token authority, or nil without --bot-app-id.
// exposed: --http-listen is not loopback, so every password must be long.
func (o *authOptions) authority(issuer, dir string, exposed bool) (*botauth.Authority, error) {
	if o.appID == "" {
		if o.appPassword != "" || o.credentials != "" {
			return nil, errors.New("--bot-app-password and --bot-credentials need --bot-app-id")
		}
		return nil, nil
	}
	creds := map[string][]string{}
	if o.credentials != "" {
		var err error
		if creds, err = botauth.LoadCredentials(o.credentials); err != nil {
			return nil, err
		}
	}
	if o.appPassword != "" {
		creds[o.appID] = append(creds[o.appID], o.appPassword)
	}
	if len(creds[o.appID]) == 0 {
		return nil, fmt.Errorf("--bot-app-id %s has no password: give --bot-app-password or a line in --bot-credentials", o.appID)
	}
	for app, pws := range creds {
		for _, pw := range pws {
			if exposed && len(pw) < minSecret {
				return nil, fmt.Errorf("a password of bot app %s has %d characters: at least %d when --http-listen is not a loopback address (openssl rand -hex 16 makes one)", app, len(pw), minSecret)
			}
		}
	}
	keyPath := o.signingKey
	if keyPath == "" {
		keyPath = filepath.Join(dir, ".auth", "signing-key.pem")
	}
	key, err := botauth.LoadOrCreateKey(keyPath)
	if err != nil {
		return nil, err
	}
	return botauth.New(botauth.Config{Issuer: issuer, Scope: o.scope, BotAppID: o.appID, Credentials: creds,
		Key: key, ChannelID: activity.ChannelID})
}

func (o *authOptions) tls() (bool, error) {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return false, errors.New("--http-tls-cert and --http-tls-key go together")
	}
	return o.tlsCert != "", nil
}

// loopbackPeers lets through only requests from this machine: the
// Connector API without an app id when the listener is on the network.
func loopbackPeers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Unmap().IsLoopback() {
			httpjson.Error(w, http.StatusUnauthorized, "Unauthorized", "the Connector API takes calls from other machines only with --bot-app-id")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// connectorAPI guards the Connector API the bot answers on.
func connectorAPI(h http.Handler, ba *botauth.Authority, httpListen string) http.Handler {
	switch {
	case ba != nil:
		return ba.Require(h)
	case !loopback(httpListen):
		return loopbackPeers(h)
	}
	return h
}

// webhookSecret reads --events-secret: "whsec_<base64>" as Standard
// Webhooks writes secrets, or any other string as its bytes; "" is none.
func webhookSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if b64, ok := strings.CutPrefix(s, "whsec_"); ok {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(b) < 16 {
			return nil, errors.New("--events-secret: whsec_ must be followed by the base64 of at least 16 bytes")
		}
		return b, nil
	}
	if len(s) < 16 {
		return nil, errors.New("--events-secret: at least 16 characters")
	}
	return []byte(s), nil
}
