// Package recorder records a call's audio into WAV files under the recording
// commands' state table (idle, recording, paused) and writes the ACS-shaped
// metadata beside each file.
package recorder
