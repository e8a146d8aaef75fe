package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/sip/siptest"
)

// A bot transfers a call whose caller refuses REFER (the Go caller answers
// 405): the gateway calls the target through --outbound-proxy, a SIPp UAS
// standing in for it, and bridges the media. The bot's conversation ends,
// the recording stops as CallTransferred, the target's speech reaches the
// caller, and the caller's BYE reaches the target.
func TestTransferBridgedToSIPpUAS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	uasPort, uasDone, uasOut := startTarget(t, ctx)

	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--outbound-proxy", fmt.Sprintf("127.0.0.1:%d", uasPort), "--transfer-allow", "+1425555*",
		"--stt", "none", "--recording-notice", "none")
	_, _, call := dial(t, gw, 90*time.Second)
	go call.SendAudio(ctx, audio.Tone(440, 40*time.Second, 6000, 8000))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	conv := up.a.Conversation.ID
	botSay(t, gw, conv, `{"type":"command","name":"channel/vnd.microsoft.telephony.recording.start","value":{"commandId":"r"}}`)
	bot.next(t, activity.TypeCommandResult, 10*time.Second)
	loudBefore := call.LoudPackets()
	botSay(t, gw, conv, `{"type":"event","name":"handoff.initiate","value":{"TargetPhoneNumber":"+14255550100"}}`)

	var eoc, fileReady *activity.Activity
	deadline := time.After(20 * time.Second)
	for eoc == nil || fileReady == nil {
		select {
		case r := <-bot.in:
			a := r.a
			switch {
			case a.Type == activity.TypeEndOfConversation:
				eoc = &a
			case a.Type == activity.TypeEvent && a.Name == "recording.fileReady":
				fileReady = &a
			case a.Type == activity.TypeEvent && a.Name == activity.EventHandoffStatus:
				t.Fatalf("transfer failed: %s", a.Value)
			}
		case <-deadline:
			t.Fatalf("after handoff.initiate: endOfConversation %v, fileReady %v\nSIPp: %s", eoc != nil, fileReady != nil, uasOut.String())
		}
	}
	if !strings.Contains(eoc.Text, "transferred to +14255550100") || eoc.Conversation.ID != conv {
		t.Errorf("endOfConversation %+v", eoc)
	}
	var data recorder.FileReadyData
	if err := json.Unmarshal(fileReady.Value, &data); err != nil || data.SessionEndReason != "CallTransferred" {
		t.Errorf("fileReady sessionEndReason %q (%v), want CallTransferred", data.SessionEndReason, err)
	}
	// The target's speech (g711a.pcap, PCMA) reaches the caller (PCMU)
	// through the bridge: 2 s of it.
	wait := time.Now().Add(10 * time.Second)
	for call.LoudPackets() < loudBefore+100 {
		if time.Now().After(wait) {
			t.Fatalf("caller got %d loud packets after the transfer, want 100 (received %d)", call.LoudPackets()-loudBefore, call.ReceivedPackets())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-uasDone:
		if err != nil {
			t.Fatalf("SIPp target: %v\n%s", err, uasOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the target never got BYE\n%s", uasOut.String())
	}
}

// startTarget runs examples/sipp/transfer-target.xml: a SIPp UAS that
// answers one call, plays speech and waits for BYE.
func startTarget(t *testing.T, ctx context.Context) (port int, done <-chan error, out *syncBuffer) {
	t.Helper()
	port = freePort(t)
	scenario, _ := filepath.Abs(filepath.Join("..", "..", "examples", "sipp", "transfer-target.xml"))
	uas := exec.CommandContext(ctx, "sipp", "-sf", scenario, "-i", "127.0.0.1", "-p", fmt.Sprint(port),
		"-mp", fmt.Sprint(30000+freePort(t)%1000*2), "-m", "1", "-timeout", "60", "-timeout_error", "-nostdin")
	out = &syncBuffer{}
	uas.Stdout, uas.Stderr = out, out
	if err := uas.Start(); err != nil {
		t.Fatal("sipp: ", err)
	}
	ch := make(chan error, 1)
	go func() { ch <- uas.Wait() }()
	return port, ch, out
}

// A caller that takes REFER calls the target itself (here the SIPp UAS)
// and reports 200 by NOTIFY: the gateway hangs up its leg, the bot's
// conversation ends and the recording stops as CallTransferred.
func TestTransferByREFER(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	uasPort, uasDone, uasOut := startTarget(t, ctx)
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--outbound-proxy", fmt.Sprintf("127.0.0.1:%d", uasPort), "--transfer-allow", "+1425555*", "--stt", "none")
	_, phone, call := dial(t, gw, 90*time.Second)
	referred := phone.AcceptRefer()
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	conv := up.a.Conversation.ID
	botSay(t, gw, conv, `{"type":"command","name":"channel/vnd.microsoft.telephony.recording.start"}`)
	bot.next(t, activity.TypeCommandResult, 10*time.Second)
	botSay(t, gw, conv, `{"type":"event","name":"handoff.initiate","value":{"TargetPhoneNumber":"+14255550100"}}`)
	var r siptest.Referred
	select {
	case r = <-referred:
		if r.Err != nil {
			t.Fatalf("the caller's call to the target: %v\n%s", r.Err, uasOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no REFER reached the caller")
	}
	select {
	case <-call.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not hang up its leg after the NOTIFY 200")
	}
	var sessionEnd recorder.SessionEnd
	for sessionEnd == "" {
		ev := bot.next(t, activity.TypeEvent, 10*time.Second)
		var data recorder.FileReadyData
		if ev.a.Name == "recording.fileReady" && json.Unmarshal(ev.a.Value, &data) == nil {
			sessionEnd = data.SessionEndReason
		}
	}
	if sessionEnd != recorder.SessionEndCallTransferred {
		t.Errorf("fileReady sessionEndReason %q, want CallTransferred", sessionEnd)
	}
	eoc := bot.next(t, activity.TypeEndOfConversation, 10*time.Second)
	if !strings.Contains(eoc.a.Text, "transferred") {
		t.Errorf("endOfConversation %q", eoc.a.Text)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v", wavs)
	}
	if md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json"); md.EndReason != recorder.EndSessionEnded {
		t.Errorf("metadata endReason %q", md.EndReason)
	}
	if !strings.Contains(gw.log.String(), "call transferred by REFER") {
		t.Error("no REFER transfer in the gateway log")
	}
	wait := time.Now().Add(10 * time.Second)
	for r.Call.LoudPackets() < 50 {
		if time.Now().After(wait) {
			t.Fatalf("the target's speech never reached the caller's new call (%d loud)", r.Call.LoudPackets())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Call.Hangup(ctx)
	if err := <-uasDone; err != nil {
		t.Fatalf("SIPp target: %v\n%s", err, uasOut.String())
	}
}

// Without an outbound proxy, a caller refusing REFER means the transfer
// fails: the bot gets handoff.status failed and the call goes on.
func TestTransferFailsWithoutProxy(t *testing.T) {
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--stt", "none", "--transfer-allow", "+14255550100")
	_, _, call := dial(t, gw, 30*time.Second)
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	botSay(t, gw, up.a.Conversation.ID, `{"type":"event","name":"handoff.initiate","value":{"TargetPhoneNumber":"+14255550100"}}`)
	ev := bot.next(t, activity.TypeEvent, 15*time.Second)
	var v struct{ State, Message string }
	json.Unmarshal(ev.a.Value, &v)
	if ev.a.Name != activity.EventHandoffStatus || v.State != "failed" || !strings.Contains(v.Message, "REFER answered 405") {
		t.Fatalf("event %s %s, want handoff.status failed naming the 405", ev.a.Name, ev.a.Value)
	}
	select {
	case <-call.Ended():
		t.Fatal("a failed transfer hung up the call")
	default:
	}
	botSay(t, gw, up.a.Conversation.ID, `{"type":"event","name":"handoff.initiate","value":{"TargetPhoneNumber":"x y"}}`)
	ev = bot.next(t, activity.TypeEvent, 15*time.Second)
	if !strings.Contains(string(ev.a.Value), "invalid target") {
		t.Fatalf("bad target: %s", ev.a.Value)
	}
}

// A target outside --transfer-allow is refused before anything leaves the
// gateway: the bot gets handoff.status failed saying why, the caller gets
// no REFER and the outbound proxy no INVITE, and the call goes on.
func TestTransferOutsideAllowList(t *testing.T) {
	proxy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--stt", "none", "--outbound-proxy", proxy.LocalAddr().String(),
		"--transfer-allow", "+1800*, +442071234567")
	_, phone, call := dial(t, gw, 30*time.Second)
	referred := phone.AcceptRefer()
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	for _, target := range []string{"+19005550100", "+4420712345678", "011442071234567"} {
		botSay(t, gw, up.a.Conversation.ID, `{"type":"event","name":"handoff.initiate","value":{"TargetPhoneNumber":"`+target+`"}}`)
		ev := bot.next(t, activity.TypeEvent, 15*time.Second)
		var v struct{ State, Message string }
		json.Unmarshal(ev.a.Value, &v)
		if ev.a.Name != activity.EventHandoffStatus || v.State != "failed" || !strings.Contains(v.Message, "not in the transfer allow list") {
			t.Fatalf("transfer to %s: event %s %s, want handoff.status failed naming the allow list", target, ev.a.Name, ev.a.Value)
		}
	}
	proxy.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := proxy.ReadFrom(make([]byte, 1500)); err == nil {
		t.Fatalf("the outbound proxy got %d bytes for a refused transfer", n)
	}
	select {
	case r := <-referred:
		t.Fatalf("the caller got a REFER for a refused transfer: %+v", r)
	case <-call.Ended():
		t.Fatal("a refused transfer hung up the call")
	default:
	}
}
