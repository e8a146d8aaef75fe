package channel

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
)

// handoffWait bounds a transfer: the REFER and its NOTIFYs, or the
// outbound call's ringing.
const handoffWait = 90 * time.Second

// handoff transfers the call per a handoff.initiate event. Success ends the
// conversation (the bot gets endOfConversation; a recording stops with
// sessionEndReason CallTransferred); failure sends handoff.status failed
// and the call goes on.
func (g *Gateway) handoff(conv *conversation, a *activity.Activity, id string, log *slog.Logger) {
	var v struct {
		TargetPhoneNumber string `json:"TargetPhoneNumber"`
		Target            string `json:"targetPhoneNumber"` // camelCase, as some helpers send
	}
	_ = json.Unmarshal(a.Value, &v)
	target := strings.TrimSpace(v.TargetPhoneNumber)
	if target == "" {
		target = strings.TrimSpace(v.Target)
	}
	if target == "" {
		conv.handoffFailed("handoff.initiate needs value.TargetPhoneNumber", log)
		return
	}
	log.Info("transfer requested", "id", id, "target", target)
	ctx, cancel := context.WithTimeout(context.Background(), handoffWait)
	defer cancel()
	if err := conv.call.Transfer(ctx, target); err != nil {
		conv.handoffFailed(err.Error(), log)
		return
	}
	log.Info("call transferred", "target", target)
	g.end(conv, "transferred to "+target, recorder.SessionEndCallTransferred)
}

// handoffFailed tells the bot its transfer failed; the call goes on.
func (conv *conversation) handoffFailed(msg string, log *slog.Logger) {
	log.Warn("transfer failed", "err", msg)
	v, _ := json.Marshal(map[string]string{"state": "failed", "message": msg})
	conv.send(&activity.Activity{Type: activity.TypeEvent, Name: activity.EventHandoffStatus, Value: v})
}
