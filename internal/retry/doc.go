// Package retry runs a piece of work again and again: at once when woken,
// after a backoff that doubles while it fails, and after a long idle wait
// while it succeeds. The webhook notifier and the recording uploader
// deliver their spools this way.
package retry
