// Package siptest is a test kit for SIP servers: a phone on sipgo and
// pion/rtp that places calls (phone.go), streams G.711 audio with real
// pacing and measures what comes back (rtp.go), answers the far end's BYE
// and REFER (call.go), and shares one RTP socket among many calls
// (port.go). botline's tests and its load generator use it as a real SIP
// peer; it imports media, never the server's package sip.
package siptest
