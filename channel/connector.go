package channel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/httpjson"
)

// maxActivityBytes bounds a posted activity.
const maxActivityBytes = 1 << 20

// Handler serves the Connector API the bot talks back on.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/conversations/{conversationId}/activities", g.serveActivity)
	mux.HandleFunc("POST /v3/conversations/{conversationId}/activities/{activityId}", g.serveActivity)
	return mux
}

func (g *Gateway) serveActivity(w http.ResponseWriter, r *http.Request) {
	convID := r.PathValue("conversationId")
	if g.calls.get(convID) == nil {
		httpjson.Error(w, http.StatusNotFound, "ConversationNotFound", fmt.Sprintf("conversation %q not found", convID))
		return
	}
	var a activity.Activity
	dec := json.NewDecoder(io.LimitReader(r.Body, maxActivityBytes))
	if err := dec.Decode(&a); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadArgument", "invalid activity JSON: "+err.Error())
		return
	}
	if replyTo := r.PathValue("activityId"); replyTo != "" && a.ReplyToID == "" {
		a.ReplyToID = replyTo
	}
	id, err := g.post(r.Context(), convID, &a)
	switch {
	case errors.Is(err, ErrUnknownConversation):
		httpjson.Error(w, http.StatusNotFound, "ConversationNotFound", fmt.Sprintf("conversation %q not found", convID))
		return
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, "BadArgument", err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, activity.ResourceResponse{ID: id})
}
