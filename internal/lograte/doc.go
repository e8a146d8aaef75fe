// Package lograte is a slog.Handler that keeps a remote party from
// flooding the log: each message (its text) passes at a bounded rate, the
// lines over it are counted and reported on the next line that passes
// ("suppressed"), and string values are cut to a bounded length.
package lograte
