package recorder

import "fmt"

// Direction is which way a recorded call was placed ("direction" in its
// metadata); a SIPREC session, recorded for another system, has none.
type Direction string

// Directions.
const (
	DirectionInbound  Direction = "inbound"  // the caller called the gateway
	DirectionOutbound Direction = "outbound" // the gateway called out
)

// Layout is a recording's channel layout ("contentType" in its metadata).
type Layout string

// Channel layouts.
const (
	LayoutMixed   Layout = "mixed"   // mono: the caller and what the gateway plays, summed
	LayoutUnmixed Layout = "unmixed" // stereo: the caller left, what the gateway plays right
)

// ParseLayout reads a layout name: a flag, a start command's
// recordingChannelType, an API request. "" stays "": the configured default.
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(s); l {
	case "", LayoutMixed, LayoutUnmixed:
		return l, nil
	}
	return "", fmt.Errorf("unknown recordingChannelType %q (want mixed or unmixed)", s)
}

// Channels is the number of audio channels of the layout's files.
func (l Layout) Channels() int {
	if l == LayoutUnmixed {
		return 2
	}
	return 1
}

// Chunk end reasons ("endReason" in a chunk's metadata and the file-ready
// event's chunk list).
const (
	// EndSessionEnded: the recording was stopped, or its call ended.
	EndSessionEnded = "SessionEnded"
	// EndChunkMax: the chunk reached its bound; the recording goes on in
	// the next chunk.
	EndChunkMax = "ChunkMaximumSizeExceeded"
	// EndServiceRestarted: the gateway died while writing the chunk; it was
	// repaired at the next start.
	EndServiceRestarted = "ServiceRestarted"
)

// SessionEnd says why a recording session ended ("sessionEndReason" of
// its file-ready event).
type SessionEnd string

// Session end reasons.
const (
	SessionEndCallEnded       SessionEnd = "CallEnded"        // the call ended while recording
	SessionEndStopped         SessionEnd = "RecordingStopped" // the bot (or API) stopped it
	SessionEndCallTransferred SessionEnd = "CallTransferred"  // the call was handed to another party
	// SessionEndRecordingFailed: writing failed during the session (a full
	// disk); the file holds what reached the disk.
	SessionEndRecordingFailed SessionEnd = "RecordingFailed"
	// SessionEndServiceRestarted: repaired after a crash.
	SessionEndServiceRestarted SessionEnd = EndServiceRestarted
)

// PauseBehavior is what a paused span leaves in the file.
type PauseBehavior string

// Pause behaviours.
const (
	// PauseSkip leaves nothing: the file holds only recorded audio (the
	// Telephony channel's behaviour, and the default).
	PauseSkip PauseBehavior = "skip"
	// PauseSilence keeps the span as silence, so the file's clock is the
	// call's.
	PauseSilence PauseBehavior = "silence"
)

// ParsePauseBehavior reads a pauseBehavior value; "" is the default.
func ParsePauseBehavior(s string) (PauseBehavior, error) {
	switch b := PauseBehavior(s); b {
	case "", PauseSkip, PauseSilence:
		return b, nil
	}
	return "", fmt.Errorf("unknown pauseBehavior %q (want skip or silence)", s)
}
