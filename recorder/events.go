package recorder

import (
	"strings"
	"time"
)

// Publisher takes file-ready events for delivery: the webhook notifier,
// or the uploader to a bucket, which hands each on once its files are up.
type Publisher interface {
	Publish(ev FileReadyEvent) error
}

// EventTypeFileReady is the Event Grid type of a file-ready notification.
const EventTypeFileReady = "Microsoft.Communication.RecordingFileStatusUpdated"

// FileReadyEvent is one Event Grid event announcing a finished recording.
type FileReadyEvent struct {
	ID              string        `json:"id"`
	Topic           string        `json:"topic"`
	Subject         string        `json:"subject"`
	Data            FileReadyData `json:"data"`
	EventType       string        `json:"eventType"`
	DataVersion     string        `json:"dataVersion"`
	MetadataVersion string        `json:"metadataVersion"`
	EventTime       string        `json:"eventTime"`
}

// FileReadyData is the data of a file-ready event.
type FileReadyData struct {
	RecordingStorageInfo struct {
		RecordingChunks []RecordingChunk `json:"recordingChunks"`
	} `json:"recordingStorageInfo"`
	RecordingStartTime  string     `json:"recordingStartTime"`
	RecordingDurationMs float64    `json:"recordingDurationMs"`
	SessionEndReason    SessionEnd `json:"sessionEndReason"`
	// TranscriptLocation is where the recording's transcript downloads,
	// when one was written.
	TranscriptLocation string `json:"transcriptLocation,omitempty"`
}

// RecordingChunk names one downloadable file of a recording.
type RecordingChunk struct {
	DocumentID       string `json:"documentId"`
	Index            int    `json:"index"`
	EndReason        string `json:"endReason"`
	ContentLocation  string `json:"contentLocation"`
	MetadataLocation string `json:"metadataLocation"`
}

// NewFileReadyEvent builds the event for a finished recording from its
// chunks' metadata (in order); baseURL is where the download API is served.
// The event id is the recording id, so a redelivery carries the same id.
func NewFileReadyEvent(chunks []Metadata, sessionEndReason SessionEnd, resourceID, baseURL string) FileReadyEvent {
	md := chunks[0]
	ev := FileReadyEvent{
		ID: md.RecordingID, Topic: "/botline/" + resourceID, Subject: "/recording/call/" + md.CallID,
		EventType: EventTypeFileReady, DataVersion: "1.0", MetadataVersion: "1",
		EventTime: isoTime(time.Now()),
	}
	for _, c := range chunks {
		base := strings.TrimRight(baseURL, "/") + "/recording/download/" + c.ChunkDocumentID
		ev.Data.RecordingStorageInfo.RecordingChunks = append(ev.Data.RecordingStorageInfo.RecordingChunks, RecordingChunk{
			DocumentID: c.ChunkDocumentID, Index: c.ChunkIndex, EndReason: c.EndReason,
			ContentLocation: base, MetadataLocation: base + "/metadata",
		})
		ev.Data.RecordingDurationMs += c.ChunkDuration
	}
	for _, c := range chunks {
		if c.Transcript {
			ev.Data.TranscriptLocation = strings.TrimRight(baseURL, "/") + "/recording/download/" + md.RecordingID + "/transcript"
		}
	}
	ev.Data.RecordingStartTime = md.ChunkStartTime
	ev.Data.SessionEndReason = sessionEndReason
	return ev
}
