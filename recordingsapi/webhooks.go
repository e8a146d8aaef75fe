package recordingsapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/botline/botline/internal/randid"
	"github.com/botline/botline/recorder"
)

// Webhooks are where file-ready events go: every URL gets each event, in
// an Event Grid batch of one. With Handshake, a URL gets events only once
// it has answered Event Grid's subscription validation (a
// SubscriptionValidationEvent echoed back as validationResponse); the URLs
// that did are remembered in the spool. With Secret, every post is signed
// as Standard Webhooks says (webhook-id, webhook-timestamp,
// webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">), so
// the consumer can tell botline's events from forged or altered ones, and
// replays.
type Webhooks struct {
	URLs   []string
	Secret []byte // signs every post; nil: unsigned
	// Handshake validates each URL once before its first event.
	Handshake bool
	Client    *http.Client // default: a 10 s timeout
}

// post sends ev as an Event Grid batch of one.
func (n *AfterCall) post(ctx context.Context, url string, ev recorder.FileReadyEvent) error {
	body, _ := json.Marshal([]recorder.FileReadyEvent{ev})
	res, err := n.send(ctx, url, "Notification", ev.ID, body)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	res.Body.Close()
	if res.StatusCode/100 == 3 {
		return fmt.Errorf("webhook answered %d, a redirect to %q: botline posts only to the configured URL", res.StatusCode, res.Header.Get("Location"))
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", res.StatusCode)
	}
	return nil
}

// send POSTs body with the Event Grid event type header, signed when there
// is a secret.
func (n *AfterCall) send(ctx context.Context, url, eventType, id string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", eventType)
	if n.Webhooks.Secret != nil {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", Sign(n.Webhooks.Secret, id, ts, body))
	}
	return n.client().Do(req)
}

// Sign is the Standard Webhooks signature of body: "v1," and the base64
// HMAC-SHA256 of "id.timestamp.body" with secret.
func Sign(secret []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// validationEvent is Event Grid's SubscriptionValidationEvent.
type validationEvent struct {
	ID      string `json:"id"`
	Topic   string `json:"topic"`
	Subject string `json:"subject"`
	Data    struct {
		ValidationCode string `json:"validationCode"`
	} `json:"data"`
	EventType       string `json:"eventType"`
	EventTime       string `json:"eventTime"`
	MetadataVersion string `json:"metadataVersion"`
	DataVersion     string `json:"dataVersion"`
}

// handshake sends url a SubscriptionValidationEvent and wants its code
// back as validationResponse; a URL that passes is remembered.
func (n *AfterCall) handshake(ctx context.Context, url string) error {
	ev := validationEvent{ID: randid.New(), EventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
		EventTime: time.Now().UTC().Format(time.RFC3339Nano), MetadataVersion: "1", DataVersion: "1"}
	ev.Data.ValidationCode = randid.New()
	body, _ := json.Marshal([]validationEvent{ev})
	res, err := n.send(ctx, url, "SubscriptionValidation", ev.ID, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var answer struct {
		ValidationResponse string `json:"validationResponse"`
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("validation answered %d", res.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 4096)).Decode(&answer); err != nil || answer.ValidationResponse != ev.Data.ValidationCode {
		return fmt.Errorf("validation answered without the validationCode as validationResponse")
	}
	n.validated[url] = true
	var urls []string
	for u := range n.validated {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	if err := recorder.WriteJSON(n.statePath(), urls); err != nil {
		n.Logger.Warn("validated webhooks not saved; they will be asked again after a restart", "err", err)
	}
	n.Logger.Info("webhook validated", "url", url)
	return nil
}

// statePath holds the validated URLs; not *.json, which are events.
func (n *AfterCall) statePath() string { return filepath.Join(n.SpoolDir, "validated-webhooks") }

// client is the webhooks' HTTP client, which never follows a redirect: a
// 3xx would send the event and its signature to another host (307 re-posts
// the body; 302 turns into a GET there, retried forever).
func (n *AfterCall) client() *http.Client {
	c := defaultClient
	if n.Webhooks.Client != nil {
		own := *n.Webhooks.Client
		own.CheckRedirect = noRedirects
		c = &own
	}
	return c
}

var defaultClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirects}

// noRedirects makes a client answer with the 3xx itself.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
