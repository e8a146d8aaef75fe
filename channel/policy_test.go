package channel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/sip"
)

func TestPolicy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p")
	os.WriteFile(path, []byte("# rules\ncaller +1425*   # sales\n\ndialed +18005550199\n"), 0o644)
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		caller, dialed string
		want           bool
	}{
		{"+14255550123", "+1999", true},
		{"+1426", "+18005550199", true},
		{"+1426", "+180055501990", false},
		{"+1426", "+1800", false},
	} {
		if got := p.Match(c.caller, c.dialed); got != c.want {
			t.Errorf("Match(%s, %s) = %v", c.caller, c.dialed, got)
		}
	}
	var none *Policy
	if none.Match("+1", "+1") {
		t.Fatal("nil policy matched")
	}
	os.WriteFile(path, []byte("caller +1\nbogus line here\n"), 0o644)
	if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("bad line: %v", err)
	}
}

func loadPolicy(t *testing.T, rules string) *Policy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy")
	os.WriteFile(path, []byte(rules), 0o644)
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A policy recording that cannot start is never silent: the bot gets
// recording.failed, and with PolicyRequired the call is hung up.
func TestPolicyRecordingFails(t *testing.T) {
	for _, required := range []bool{false, true} {
		notDir := filepath.Join(t.TempDir(), "file")
		os.WriteFile(notDir, nil, 0o644)
		c := newCall(t, Config{Policy: loadPolicy(t, "dialed +18005550199\n"), PolicyRequired: required,
			RecordingsDir: filepath.Join(notDir, "recordings")})
		a := c.bot.next(t)
		var v activity.Error
		if a.Type != activity.TypeEvent || a.Name != EventRecordingFailed || json.Unmarshal(a.Value, &v) != nil ||
			v.Code != recorder.CodeFailed || !strings.HasPrefix(v.Message, "Recording failed: ") {
			t.Fatalf("required=%v: bot got %s %s %s, want recording.failed", required, a.Type, a.Name, a.Value)
		}
		if !required {
			if len(c.fake.hangups) != 0 { // open decides before it returns
				t.Error("hung up a call whose recording is not required")
			}
			continue
		}
		select {
		case <-c.fake.hangups:
		case <-time.After(5 * time.Second):
			t.Error("a call that must be recorded went on unrecorded")
		}
	}
}

// The policy's dialed number is the Request-URI's (where the trunk routed
// the call), not the To header the caller chose.
func TestPolicyMatchesRequestURI(t *testing.T) {
	p := loadPolicy(t, "dialed +18005550199\n")
	forged := newCallOn(t, Config{Policy: p}, &sip.Call{ID: "a", Caller: "+1425", Dialed: "+18005550199", Called: "+18005550100"})
	if forged.conv.policy || forged.conv.rec.State() != recorder.Idle {
		t.Error("a To header matched the policy against the Request-URI")
	}
	routed := newCallOn(t, Config{Policy: p}, &sip.Call{ID: "b", Caller: "+1425", Dialed: "+1999", Called: "+18005550199"})
	if !routed.conv.policy || routed.conv.rec.State() != recorder.Recording {
		t.Error("the Request-URI's number did not match the policy")
	}
}
