package recordbot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/botline/botline/activity"
)

// HTTPConnector sends activities to the channel's Connector API at the
// activity's serviceUrl, as a botbuilder bot would.
type HTTPConnector struct {
	Client *http.Client
}

// Send POSTs a to {serviceUrl}v3/conversations/{id}/activities[/{replyToId}].
func (c HTTPConnector) Send(ctx context.Context, a *activity.Activity) (string, error) {
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimRight(a.ServiceURL, "/") + "/v3/conversations/" + url.PathEscape(a.Conversation.ID) + "/activities"
	if a.ReplyToID != "" {
		u += "/" + url.PathEscape(a.ReplyToID)
	}
	body, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode activity: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("connector request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("connector: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("connector answered %d: %s", res.StatusCode, bytes.TrimSpace(b))
	}
	var rr activity.ResourceResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		return "", fmt.Errorf("connector response: %w", err)
	}
	return rr.ID, nil
}

// Handler serves the bot's messaging endpoint (POST /api/messages).
func (b *Bot) Handler(conn activity.Sender) http.Handler {
	return Serve(b.OnActivity, conn)
}

// Serve serves a bot's messaging endpoint (POST /api/messages): each
// activity is handed to onActivity, which replies through conn. The
// sample bots in bots/ share it.
func Serve(onActivity func(context.Context, *activity.Activity, activity.Sender) error, conn activity.Sender) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/messages", func(w http.ResponseWriter, r *http.Request) {
		var a activity.Activity
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&a); err != nil {
			http.Error(w, "invalid activity: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := onActivity(r.Context(), &a, conn); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return mux
}
