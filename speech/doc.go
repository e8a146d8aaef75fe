// Package speech holds the voice of a call: text-to-speech engines behind
// Engine, SSML parsing, resampling to the call's 8 kHz, voice-activity
// detection, and speech recognizers behind Recognizer.
package speech
