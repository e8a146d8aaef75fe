package channel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/botline/botline/activity"
)

// maxActivityBytes bounds a posted activity.
const maxActivityBytes = 1 << 20

// Handler serves the Connector API the bot talks back on, and /healthz.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/conversations/{conversationId}/activities", g.serveActivity)
	mux.HandleFunc("POST /v3/conversations/{conversationId}/activities/{activityId}", g.serveActivity)
	mux.HandleFunc("GET /healthz", g.serveHealth)
	return mux
}

func (g *Gateway) serveActivity(w http.ResponseWriter, r *http.Request) {
	convID := r.PathValue("conversationId")
	if g.conversation(convID) == nil {
		writeError(w, http.StatusNotFound, "ConversationNotFound", fmt.Sprintf("conversation %q not found", convID))
		return
	}
	var a activity.Activity
	dec := json.NewDecoder(io.LimitReader(r.Body, maxActivityBytes))
	if err := dec.Decode(&a); err != nil {
		writeError(w, http.StatusBadRequest, "BadArgument", "invalid activity JSON: "+err.Error())
		return
	}
	if replyTo := r.PathValue("activityId"); replyTo != "" && a.ReplyToID == "" {
		a.ReplyToID = replyTo
	}
	id, err := g.post(r.Context(), convID, &a)
	switch {
	case errors.Is(err, ErrUnknownConversation):
		writeError(w, http.StatusNotFound, "ConversationNotFound", fmt.Sprintf("conversation %q not found", convID))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "BadArgument", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, activity.ResourceResponse{ID: id})
}

func (g *Gateway) serveHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "calls": g.live.Load()})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, activity.ErrorResponse{Error: activity.Error{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
