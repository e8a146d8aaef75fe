package activity

import "encoding/json"

// Input hints of a bot's message (Activity spec, plus the telephony
// channel's two): whether the caller may barge in on the prompt.
const (
	InputAccepting         = "acceptingInput"
	InputExpecting         = "expectingInput"
	InputIgnoring          = "ignoringInput"
	InputIgnoringSpeech    = "ignoringSpeechInput"
	InputIgnoringNonSpeech = "ignoringNonSpeechInput"
)

// Event names of the voice channel.
const (
	EventHandoffInitiate = "handoff.initiate"
	EventHandoffStatus   = "handoff.status"
	EventSilence         = "silence"
)

// EntityDTMF is the entity type marking a message as key presses.
const EntityDTMF = "DTMF"

// DTMFEntity is the entity a key-press message carries.
var DTMFEntity = json.RawMessage(`{"type":"DTMF"}`)

// HasEntity reports whether the activity carries an entity of the type.
func (a *Activity) HasEntity(typ string) bool {
	for _, e := range a.Entities {
		var v struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(e, &v) == nil && v.Type == typ {
			return true
		}
	}
	return false
}

// Ignores reports whether a prompt with this input hint ignores caller
// input of the kind (speech or key presses): such input neither barges in
// nor reaches the bot while the prompt plays.
func Ignores(inputHint string, speech bool) bool {
	switch inputHint {
	case InputIgnoring:
		return true
	case InputIgnoringSpeech:
		return speech
	case InputIgnoringNonSpeech:
		return !speech
	}
	return false
}
