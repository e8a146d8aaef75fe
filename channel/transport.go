package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/retry"
)

// BotTransport delivers one activity to the bot and returns when the bot
// has accepted it.
type BotTransport interface {
	Deliver(ctx context.Context, a *activity.Activity) error
}

// BotFunc adapts an in-process bot to a BotTransport.
type BotFunc func(ctx context.Context, a *activity.Activity) error

// Deliver calls f.
func (f BotFunc) Deliver(ctx context.Context, a *activity.Activity) error { return f(ctx, a) }

// InProcessBot is a bot running inside the gateway's process (the
// embedded sample bots): it gets each activity and answers through s.
type InProcessBot interface {
	OnActivity(ctx context.Context, a *activity.Activity, s activity.Sender) error
}

// InProcess returns the transport of an in-process bot. New binds it to
// the gateway, which the bot then answers through.
func InProcess(b InProcessBot) BotTransport { return &inProcess{bot: b} }

type inProcess struct {
	bot    InProcessBot
	sender activity.Sender
}

// Deliver hands a to the bot.
func (t *inProcess) Deliver(ctx context.Context, a *activity.Activity) error {
	return t.bot.OnActivity(ctx, a, t.sender)
}

// TokenSource gives the bearer token of a request to the bot about a
// conversation whose serviceUrl is serviceURL (botauth.Authority).
type TokenSource interface {
	ChannelToken(serviceURL string) (string, error)
}

// HTTPBot delivers activities by POSTing them to a bot's messaging endpoint
// (docs/PROTOCOL.md, 1.1). With Tokens set each request carries
// "Authorization: Bearer <token>"; without, none, and the bot must run
// without an app id and password.
type HTTPBot struct {
	Endpoint string       // e.g. http://127.0.0.1:3978/api/messages
	Client   *http.Client // default: a client with a 30 s timeout
	Attempts int          // tries on network errors and 5xx; default 3
	Tokens   TokenSource  // nil: no Authorization header
}

// Deliver POSTs a, retrying with backoff on network errors and 5xx.
func (b *HTTPBot) Deliver(ctx context.Context, a *activity.Activity) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode activity: %w", err)
	}
	client := b.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	attempts := max(b.Attempts, 1)
	if b.Attempts == 0 {
		attempts = 3
	}
	authorization := ""
	if b.Tokens != nil {
		tok, err := b.Tokens.ChannelToken(a.ServiceURL)
		if err != nil {
			return fmt.Errorf("token for the bot: %w", err)
		}
		authorization = "Bearer " + tok
	}
	backoff := retry.Backoff{First: 200 * time.Millisecond, Max: 5 * time.Second}
	for i := 1; ; i++ {
		err = b.post(ctx, client, body, authorization)
		if err == nil || i == attempts || !retryable(err) {
			return err
		}
		if !retry.Sleep(ctx, backoff.Next()) {
			return fmt.Errorf("deliver %s: %w", a.Type, ctx.Err())
		}
	}
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("bot answered %d: %s", e.code, e.body)
}

func retryable(err error) bool {
	if se := (*statusError)(nil); errors.As(err, &se) {
		return se.code >= 500
	}
	return true
}

func (b *HTTPBot) post(ctx context.Context, client *http.Client, body []byte, authorization string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bot request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post to bot: %w", err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode/100 != 2 {
		return &statusError{res.StatusCode, string(bytes.TrimSpace(msg))}
	}
	return nil
}
