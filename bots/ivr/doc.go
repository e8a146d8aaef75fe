// Package ivr is botline's sample IVR bot: a key-press menu, speech
// echoed back, the recording paused while a card number is keyed in, and a
// transfer to an agent on 0. It runs embedded in the gateway (botline
// --default-bot ivr) or standalone behind HTTP (bots/cmd/ivrbot).
package ivr
