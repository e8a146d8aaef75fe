// Package recordingsapi serves finished recordings over HTTP (download with
// Range, metadata, search, erasure), reading through a recorder.Store, and
// delivers file-ready events to webhooks (notifier.go).
package recordingsapi
