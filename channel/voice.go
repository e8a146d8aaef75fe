package channel

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/speech"
)

// noticeTag marks audio that is not a bot prompt (the recording notice):
// it is never cut short by barge-in.
const noticeTag = 0

// voiceEventKind is what happened on the caller's side.
type voiceEventKind int

const (
	evSpeechStart voiceEventKind = iota
	evUtterance
	evNoUtterance // what started was too short to be speech
	evDTMF
	evSilence
)

type voiceEvent struct {
	kind  voiceEventKind
	digit byte
	pcm   []int16
	arm   uint64        // evSilence: the arming it belongs to
	mark  recorder.Mark // evSpeechStart: where the utterance starts in the recording
	done  chan struct{} // evUtterance, when someone waits: closed once it is recognized or dropped
}

// heardUtterance is an utterance waiting for the recognizer, and where it
// starts in the recording (for the transcript).
type heardUtterance struct {
	pcm  []int16
	mark recorder.Mark
	done chan struct{} // closed once recognized; nil: nobody waits
}

// prompt is a bot message waiting to be spoken.
type prompt struct {
	text, hint string
	fallback   string // the message's text, spoken when its SSML is malformed
	gen        uint64
	id         string // the activity id, for logs
}

// voice is one conversation's speech and keys: it speaks the bot's
// messages in order, turns key presses and utterances into messages,
// barges in on prompts per their inputHint, and tells the bot of silence.
type voice struct {
	g    *Gateway
	conv *conversation
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc

	det    *speech.Detector // used only from the sink (the call's clock)
	events chan voiceEvent
	// heard holds utterances waiting for the recognizer. One goroutine per
	// call recognizes them in order, so a call has at most one utterance in
	// the recognizer at a time: a talkative caller waits for its own turn
	// and cannot take every slot from the other calls.
	heard chan heardUtterance
	mark  recorder.Mark // where the current utterance started; run's own

	mu       sync.Mutex
	prompts  []prompt
	wake     chan struct{}
	gen      uint64            // bumped by barge-in: prompts of older gens are dropped
	hints    map[uint64]string // clip tag -> inputHint of its prompt
	nextTag  uint64
	playEnd  time.Time // when the audio queued so far runs out
	lastHint string
	armed    uint64 // current silence arming; 0 = none
	armSeq   uint64 // numbers the armings
	speaking bool   // an utterance is in progress
	ignoring bool   // the utterance in progress started while ignored
}

func newVoice(g *Gateway, conv *conversation, log *slog.Logger) *voice {
	ctx, stop := context.WithCancel(context.Background())
	v := &voice{
		g: g, conv: conv, log: log, ctx: ctx, stop: stop,
		det:    speech.NewDetector(g.cfg.VAD),
		events: make(chan voiceEvent, 64),
		heard:  make(chan heardUtterance, maxHeard),
		wake:   make(chan struct{}, 1),
		hints:  map[uint64]string{noticeTag: ""},
		// tags of prompts start at 1; noticeTag is never a prompt
		nextTag: noticeTag + 1,
	}
	go v.run()
	go v.speaker()
	if g.cfg.STT != nil {
		go v.recognizer()
	}
	return v
}

// maxHeard bounds the utterances of one call waiting for the recognizer;
// past it the newest is dropped (the caller talks faster than it can be
// recognized).
const maxHeard = 4

// close ends the voice's goroutines; queued prompts are dropped.
func (v *voice) close() { v.stop() }

// lastWordsWait bounds how long a call's end waits for the recognition of
// what the caller was saying as it hung up.
const lastWordsWait = 5 * time.Second

// finish recognizes what the caller was in the middle of saying when the
// call ended, within wait: its text reaches the bot and the transcript
// before the conversation ends. Call it once the call's media has stopped
// (the detector is the sink's until then).
func (v *voice) finish(wait time.Duration) {
	pcm := v.det.Flush()
	if pcm == nil {
		return
	}
	if v.g.cfg.STT == nil {
		speech.Release(pcm)
		return
	}
	done := make(chan struct{})
	v.push(voiceEvent{kind: evUtterance, pcm: pcm, done: done})
	select {
	case <-done:
	case <-time.After(wait):
		v.log.Warn("the caller's last words were not recognized in time", "wait", wait.String())
	}
}

// sink is a call's AudioSink: the recorder, the voice's detector, and
// the live listeners.
type sink struct {
	rec    *recorder.Recorder
	v      *voice
	listen *recordingsapi.Listeners
}

// WriteAudio records the frame and looks for speech in the caller's part.
// It runs on the call's clock with the call's media locked: it only queues
// events.
func (s sink) WriteAudio(caller, played []int16) {
	s.rec.WriteAudio(caller, played)
	if s.listen.Active() {
		s.listen.Write(caller, played, s.rec.State() == recorder.Paused)
	}
	switch s.v.det.Frame(caller) {
	case speech.VADStart:
		s.v.push(voiceEvent{kind: evSpeechStart, mark: s.rec.Position()})
	case speech.VADUtterance:
		s.v.push(voiceEvent{kind: evUtterance, pcm: s.v.det.Utterance()})
	case speech.VADDiscarded:
		s.v.push(voiceEvent{kind: evNoUtterance})
	}
}

func (v *voice) push(ev voiceEvent) {
	select {
	case v.events <- ev:
	default:
		v.log.Warn("voice event dropped: queue full", "kind", ev.kind)
	}
}

// say queues a bot message to be spoken after the ones before it.
func (v *voice) say(text, fallback, hint, id string) {
	v.mu.Lock()
	v.prompts = append(v.prompts, prompt{text: text, fallback: fallback, hint: hint, gen: v.gen, id: id})
	v.armed = 0 // a new prompt: no silence until it has played
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// speaker synthesizes prompts one at a time, in order, and queues their
// audio on the call. A prompt barged in on while it was synthesized is
// dropped.
func (v *voice) speaker() {
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-v.wake:
		}
		for {
			v.mu.Lock()
			if len(v.prompts) == 0 {
				v.mu.Unlock()
				break
			}
			p := v.prompts[0]
			v.mu.Unlock()
			start := time.Now()
			pcm, err := speech.Speak(v.ctx, v.g.cfg.TTS, p.text)
			if errors.Is(err, speech.ErrBadSSML) && p.fallback != "" && p.fallback != p.text {
				v.log.Warn("malformed SSML: speaking the message's text", "id", p.id, "err", err)
				pcm, err = speech.Speak(v.ctx, v.g.cfg.TTS, p.fallback)
			}
			if err == nil {
				v.g.ttsTime.Observe(time.Since(start))
			}
			v.mu.Lock()
			if len(v.prompts) > 0 && v.prompts[0].gen == p.gen && v.prompts[0].id == p.id {
				v.prompts = v.prompts[1:]
			}
			if err != nil {
				v.mu.Unlock()
				if v.ctx.Err() == nil {
					v.log.Error("prompt not spoken", "id", p.id, "err", err)
				}
				continue
			}
			if p.gen != v.gen {
				v.mu.Unlock()
				continue // barged in on
			}
			tag := v.nextTag
			v.nextTag++
			v.hints[tag] = p.hint
			v.conv.call.Play(pcm, tag)
			dur := time.Duration(len(pcm)) * time.Second / speech.CallRate
			now := v.g.cfg.Clock.Now()
			if v.playEnd.Before(now) {
				v.playEnd = now
			}
			if m := v.conv.rec.Position(); m.Valid() { // it plays once what is queued before it has
				m.Offset += v.playEnd.Sub(now)
				said := p.text
				if p.fallback != "" {
					said = p.fallback
				}
				m.Add(recorder.SideBot, said, dur, false)
			}
			v.playEnd = v.playEnd.Add(dur)
			v.lastHint = p.hint
			v.armSilence()
			v.mu.Unlock()
			v.log.Debug("prompt queued", "id", p.id, "audio", dur.String(), "synthesis", time.Since(start).String())
		}
	}
}

// armSilence starts the no-input timer to fire SilenceTimeout after the
// queued audio ends; v.mu is held.
func (v *voice) armSilence() {
	timeout := v.g.cfg.SilenceTimeout
	if timeout <= 0 || v.lastHint == activity.InputIgnoring || len(v.prompts) > 0 || v.speaking {
		v.armed = 0
		return
	}
	v.armSeq++
	arm := v.armSeq
	v.armed = arm
	clk := v.g.cfg.Clock
	clk.AfterFunc(v.playEnd.Sub(clk.Now())+timeout, func() { v.push(voiceEvent{kind: evSilence, arm: arm}) })
}

// currentHint is the inputHint of the prompt playing (or about to): ""
// when none is.
func (v *voice) currentHint() (hint string, prompting bool) {
	tag, playing := v.conv.call.Playing()
	v.mu.Lock()
	defer v.mu.Unlock()
	for t := range v.hints { // forget prompts that have finished
		if playing && t < tag && t != noticeTag {
			delete(v.hints, t)
		}
	}
	if playing {
		if tag == noticeTag {
			return activity.InputIgnoring, false // a notice is heard in full, input still counts
		}
		return v.hints[tag], true
	}
	if len(v.prompts) > 0 {
		return v.prompts[0].hint, true
	}
	return "", false
}

// input handles caller input of a kind: it reports whether the input is
// ignored (the prompt playing says so), and otherwise barges in on the
// prompts.
func (v *voice) input(speechInput bool) (ignored bool) {
	hint, prompting := v.currentHint()
	if prompting && activity.Ignores(hint, speechInput) {
		return true
	}
	v.mu.Lock()
	v.armed = 0
	if !prompting {
		v.mu.Unlock()
		return false
	}
	v.gen++
	dropped := len(v.prompts)
	v.prompts = nil
	v.playEnd = v.g.cfg.Clock.Now()
	v.mu.Unlock()
	dropped += v.conv.call.StopPlayback()
	if m := v.conv.rec.Position(); m.Valid() { // the transcript says what was heard of it
		m.InterruptBot()
	}
	v.log.Info("barge-in", "by", map[bool]string{true: "speech", false: "dtmf"}[speechInput], "promptsDropped", dropped)
	return false
}

// run handles the caller's side: key presses, utterances and silence.
func (v *voice) run() {
	for {
		var ev voiceEvent
		select {
		case <-v.ctx.Done():
			return
		case ev = <-v.events:
		}
		switch ev.kind {
		case evDTMF:
			if v.input(false) {
				v.log.Info("key ignored during prompt", "digit", string(ev.digit))
				continue
			}
			v.conv.send(&activity.Activity{Type: activity.TypeMessage, Text: string(ev.digit),
				Entities: []json.RawMessage{activity.DTMFEntity}})
		case evSpeechStart:
			v.mark = ev.mark
			ignored := v.input(true)
			v.mu.Lock()
			v.speaking, v.ignoring, v.armed = true, ignored, 0
			v.mu.Unlock()
		case evNoUtterance:
			v.endUtterance()
		case evUtterance:
			if v.endUtterance() {
				speech.Release(ev.pcm)
				v.log.Info("speech ignored during prompt")
				closeIf(ev.done)
				continue
			}
			if v.g.cfg.STT != nil {
				m := v.mark
				m.Expect() // the transcript waits for it
				select {
				case v.heard <- heardUtterance{ev.pcm, m, ev.done}:
				default:
					speech.Release(ev.pcm)
					m.Abandon()
					closeIf(ev.done)
					v.log.Warn("utterance dropped: recognition is behind", "waiting", maxHeard)
				}
			} else {
				closeIf(ev.done)
			}
		case evSilence:
			v.mu.Lock()
			fire := ev.arm != 0 && ev.arm == v.armed
			v.armed = 0
			v.mu.Unlock()
			if fire {
				val, _ := json.Marshal(map[string]int64{"timeoutMs": v.g.cfg.SilenceTimeout.Milliseconds()})
				v.conv.send(&activity.Activity{Type: activity.TypeEvent, Name: activity.EventSilence, Value: val})
			}
		}
	}
}

// closeIf closes done when there is one (an utterance someone waits for).
func closeIf(done chan struct{}) {
	if done != nil {
		close(done)
	}
}

// endUtterance clears the speaking state and reports whether the utterance
// was ignored.
func (v *voice) endUtterance() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	ignored := v.ignoring
	v.speaking, v.ignoring = false, false
	return ignored
}

// recognizer recognizes the call's utterances one at a time, in order.
func (v *voice) recognizer() {
	for {
		select {
		case <-v.ctx.Done():
			for { // the call ended: what waits is not recognized
				select {
				case u := <-v.heard:
					speech.Release(u.pcm)
					u.mark.Abandon()
					closeIf(u.done)
				default:
					return
				}
			}
		case u := <-v.heard:
			v.recognize(u)
			closeIf(u.done)
		}
	}
}

// recognize turns an utterance into a message for the bot and a line of
// the recording's transcript, and gives its buffer back.
func (v *voice) recognize(u heardUtterance) {
	pcm := u.pcm
	defer speech.Release(pcm)
	added := false
	defer func() {
		if !added {
			u.mark.Abandon()
		}
	}()
	ctx, cancel := context.WithTimeout(v.ctx, time.Minute)
	defer cancel()
	start := time.Now()
	text, err := v.g.cfg.STT.Recognize(ctx, pcm)
	if err == nil {
		v.g.sttTime.Observe(time.Since(start))
	}
	if err != nil {
		if v.ctx.Err() == nil {
			v.log.Error("speech not recognized", "err", err)
		}
		return
	}
	v.log.Info("speech recognized", "text", text, "audio", (time.Duration(len(pcm)) * time.Second / speech.CallRate).String(),
		"took", time.Since(start).Round(time.Millisecond).String())
	if text == "" {
		return
	}
	u.mark.Add(recorder.SideCaller, text, time.Duration(len(pcm))*time.Second/speech.CallRate, true)
	added = true
	v.conv.send(&activity.Activity{Type: activity.TypeMessage, Text: text})
}
