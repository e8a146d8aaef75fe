package activity

import (
	"encoding/json"
	"testing"
)

func TestParseCommandValue(t *testing.T) {
	for raw, want := range map[string]string{"": "", "null": "", `{"commandId":"x","data":{"a":1}}`: "x"} {
		v, err := ParseCommandValue(json.RawMessage(raw))
		if err != nil || v.CommandID != want {
			t.Fatalf("%q: %+v %v", raw, v, err)
		}
	}
	if _, err := ParseCommandValue(json.RawMessage(`"str"`)); err == nil {
		t.Fatal("a string value was accepted")
	}
}

func TestCommandResultShape(t *testing.T) {
	a := NewCommandResult(CommandRecordingStart, "c1-0002", "cmd-1", &Error{Code: "RecordingAlreadyInProgress", Message: "Recording is already in progress"})
	b, _ := json.Marshal(a)
	want := `{"type":"commandResult","replyToId":"c1-0002","name":"channel/vnd.microsoft.telephony.recording.start","value":{"commandId":"cmd-1","error":{"code":"RecordingAlreadyInProgress","message":"Recording is already in progress"}}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

var sample = []byte(`{"type":"conversationUpdate","id":"c1-0001","timestamp":"2026-01-01T10:00:00.000Z",
 "serviceUrl":"http://127.0.0.1:8080/","channelId":"telephony",
 "from":{"id":"+14255550123","name":"+14255550123"},
 "recipient":{"id":"bot","name":"+18005550199"},
 "conversation":{"id":"c1"},
 "membersAdded":[{"id":"+14255550123","name":"+14255550123"}],
 "channelData":{"callId":"abc","from":"sip:+14255550123@x","to":"sip:+18005550199@y","direction":"inbound"}}`)

func BenchmarkActivityDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var a Activity
		if err := json.Unmarshal(sample, &a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkActivityEncode(b *testing.B) {
	var a Activity
	json.Unmarshal(sample, &a)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&a); err != nil {
			b.Fatal(err)
		}
	}
}
