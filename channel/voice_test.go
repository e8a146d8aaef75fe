package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/sip"
)

// isKey reports whether a is the key-press message for digit.
func isKey(a *activity.Activity, digit string) bool {
	return a.Type == activity.TypeMessage && a.Text == digit && a.HasEntity(activity.EntityDTMF)
}

// A key during a prompt that accepts input stops the prompt and reaches
// the bot as one DTMF message.
func TestBargeInByKey(t *testing.T) {
	c := newCall(t, Config{TTS: toneTTS{}})
	c.say(t, activity.InputExpecting)
	c.g.CallDTMF(c.sip, '5')
	if a := c.bot.next(t); !isKey(a, "5") {
		t.Fatalf("bot got %s %q, want the key 5", a.Type, a.Text)
	}
	if n := c.fake.stopCount(); n != 1 {
		t.Errorf("playback stopped %d times, want 1", n)
	}
}

// A key during an ignoringInput prompt neither stops it nor reaches the
// bot; the next key after the prompt does.
func TestIgnoringInputKey(t *testing.T) {
	c := newCall(t, Config{TTS: toneTTS{}})
	c.say(t, activity.InputIgnoring)
	c.g.CallDTMF(c.sip, '1')
	if !<-c.fake.polled { // the key was weighed against the playing prompt
		t.Fatal("the prompt was not playing")
	}
	c.fake.finish()
	c.g.CallDTMF(c.sip, '2')
	if a := c.bot.next(t); !isKey(a, "2") {
		t.Fatalf("bot got %s %q, want the key 2 (the key 1 was ignored)", a.Type, a.Text)
	}
	if n := c.fake.stopCount(); n != 0 {
		t.Errorf("an ignoringInput prompt was stopped %d times", n)
	}
}

// Silence is timed from the end of the prompt's audio: a one-second prompt
// and a three-second timeout arm four seconds, and the bot gets the
// silence event when they pass.
func TestSilenceAfterPrompt(t *testing.T) {
	clk := newFakeClock()
	c := newCall(t, Config{TTS: toneTTS{}, SilenceTimeout: 3 * time.Second, Clock: clk})
	c.say(t, activity.InputExpecting)
	if d := <-clk.armed; d != 4*time.Second {
		t.Fatalf("silence armed for %v, want 4s (1 s of prompt + 3 s)", d)
	}
	clk.advance(4 * time.Second)
	a := c.bot.next(t)
	var v struct {
		TimeoutMs int64 `json:"timeoutMs"`
	}
	if a.Type != activity.TypeEvent || a.Name != activity.EventSilence || json.Unmarshal(a.Value, &v) != nil || v.TimeoutMs != 3000 {
		t.Fatalf("bot got %s %s %s, want event silence {timeoutMs:3000}", a.Type, a.Name, a.Value)
	}
}

// Input disarms the silence timer: a timer that comes due after a key
// sends nothing, so the bot's next activity is the next key.
func TestSilenceDisarmedByInput(t *testing.T) {
	clk := newFakeClock()
	c := newCall(t, Config{TTS: toneTTS{}, SilenceTimeout: 3 * time.Second, Clock: clk})
	c.say(t, activity.InputExpecting)
	<-clk.armed
	c.g.CallDTMF(c.sip, '7')
	if a := c.bot.next(t); !isKey(a, "7") {
		t.Fatalf("bot got %s %q, want the key 7", a.Type, a.Text)
	}
	clk.advance(time.Minute)
	c.g.CallDTMF(c.sip, '8')
	if a := c.bot.next(t); !isKey(a, "8") {
		t.Fatalf("bot got %s %s %q after a disarmed timer, want the key 8", a.Type, a.Name, a.Text)
	}
}

// A prompt with ignoringInput arms no silence timer.
func TestNoSilenceAfterIgnoringPrompt(t *testing.T) {
	clk := newFakeClock()
	c := newCall(t, Config{TTS: toneTTS{}, SilenceTimeout: time.Second, Clock: clk})
	c.say(t, activity.InputIgnoring)
	c.say(t, activity.InputExpecting) // arms: the only arming is this one's
	if d := <-clk.armed; d != 3*time.Second {
		t.Fatalf("armed %v, want 3s: both prompts, then 1 s", d)
	}
	select {
	case d := <-clk.armed:
		t.Fatalf("armed twice (%v)", d)
	default:
	}
}

// A bot message with a DTMF entity is sent to the caller as keys.
func TestBotSendsKeys(t *testing.T) {
	c := newCall(t, Config{TTS: toneTTS{}})
	c.send(t, &activity.Activity{Type: activity.TypeMessage, Text: " 12#9 ", Entities: []json.RawMessage{activity.DTMFEntity}})
	c.g.CallDTMF(c.sip, '0') // the conversation handles the bot's message before this key's
	c.bot.next(t)
	c.fake.mu.Lock()
	defer c.fake.mu.Unlock()
	if c.fake.keys != "12#9" {
		t.Errorf("keys sent %q, want 12#9", c.fake.keys)
	}
}

// slowSTT recognizes an utterance once released, and records how many
// recognitions ran at once.
type slowSTT struct {
	release chan struct{}
	mu      sync.Mutex
	running int
	most    int
}

func (s *slowSTT) Recognize(ctx context.Context, pcm []int16) (string, error) {
	s.mu.Lock()
	s.running++
	s.most = max(s.most, s.running)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.running--; s.mu.Unlock() }()
	select {
	case <-s.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return fmt.Sprintf("utterance of %d samples", len(pcm)), nil
}

// A call's utterances are recognized one at a time and reach the bot in
// the order spoken: one caller never holds more than one recognizer slot.
func TestRecognitionOnePerCall(t *testing.T) {
	stt := &slowSTT{release: make(chan struct{})}
	c := newCall(t, Config{STT: stt})
	for n := 1; n <= 3; n++ {
		c.conv.voice.push(voiceEvent{kind: evSpeechStart})
		c.conv.voice.push(voiceEvent{kind: evUtterance, pcm: make([]int16, n*160)})
	}
	for n := 1; n <= 3; n++ {
		stt.release <- struct{}{}
		a := c.bot.next(t)
		if want := fmt.Sprintf("utterance of %d samples", n*160); a.Type != activity.TypeMessage || a.Text != want {
			t.Fatalf("bot got %s %q, want %q", a.Type, a.Text, want)
		}
	}
	stt.mu.Lock()
	defer stt.mu.Unlock()
	if stt.most != 1 {
		t.Errorf("%d recognitions of one call ran at once, want 1", stt.most)
	}
}

// fixedSTT recognizes every utterance as text.
type fixedSTT struct{ text string }

func (s fixedSTT) Recognize(context.Context, []int16) (string, error) { return s.text, nil }

// A caller who hangs up in the middle of a sentence still reaches the bot:
// the utterance is recognized as the call ends, before endOfConversation.
func TestLastWordsAtHangUp(t *testing.T) {
	c := newCall(t, Config{STT: fixedSTT{"please call me back"}})
	s := sink{rec: c.conv.rec, v: c.conv.voice, listen: &c.conv.listen}
	quiet, loud := make([]int16, 160), audio.Sine(300, 5000, 8000, 160)
	for range 20 {
		s.WriteAudio(quiet, quiet)
	}
	for range 60 { // 1.2 s of speech, no pause: the caller hangs up mid-sentence
		s.WriteAudio(loud, quiet)
	}
	c.g.CallEnded(c.sip, sip.EndRemoteHangup)
	a := c.bot.next(t)
	if a.Type != activity.TypeMessage || a.Text != "please call me back" {
		t.Fatalf("after the hang-up the bot got %s %q, want the last words", a.Type, a.Text)
	}
	if a := c.bot.next(t); a.Type != activity.TypeEndOfConversation {
		t.Fatalf("then %s, want endOfConversation", a.Type)
	}
}
