package channel

import (
	"testing"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/sip"
)

// Two dialogs sharing a Call-ID (a forking proxy, or a forged INVITE) are
// two conversations: each hang-up ends its own, and no call is left
// counted as live.
func TestDialogsSharingCallID(t *testing.T) {
	a := newCall(t, Config{})
	b := &sip.Call{ID: a.sip.ID, Caller: "+33123456789", Dialed: a.sip.Dialed}
	convB := a.g.open(b, newFakeCall())
	if convB == a.conv || convB.id == a.conv.id {
		t.Fatal("the second dialog joined the first's conversation")
	}
	if got := a.bot.next(t); got.Type != activity.TypeConversationUpdate || got.Conversation.ID != convB.id {
		t.Fatalf("bot got %s for %s", got.Type, got.Conversation.ID)
	}
	a.g.CallEnded(a.sip, sip.EndRemoteHangup)
	if !a.conv.ended.Load() || convB.ended.Load() {
		t.Fatalf("after A hung up: A ended %v, B ended %v", a.conv.ended.Load(), convB.ended.Load())
	}
	a.g.CallEnded(b, sip.EndRemoteHangup)
	if !convB.ended.Load() || a.g.Live() != 0 {
		t.Fatalf("after B hung up: B ended %v, %d calls live", convB.ended.Load(), a.g.Live())
	}
}
