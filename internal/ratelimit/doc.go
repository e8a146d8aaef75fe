// Package ratelimit is a token bucket per source address, with its memory
// bounded: botline's per-source rates (new INVITEs, refusals) use it.
package ratelimit
