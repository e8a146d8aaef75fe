// Package randid makes unguessable, URL-safe identifiers.
package randid
