// Package retry holds botline's one retry policy: a wait that doubles
// while tries fail (Backoff, Sleep), and Loop, which runs a piece of work
// again and again: at once when woken, after the backoff while it fails,
// and after a long idle wait while it succeeds. The webhook notifier and
// the recording uploader deliver their spools with Loop; the bot
// transports (HTTP and streaming) retry with Backoff.
package retry
