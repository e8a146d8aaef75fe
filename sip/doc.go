// Package sip is botline's SIP user agent on sipgo: it admits and answers
// calls (allow lists, rate and call limits, digest authentication, TLS),
// negotiates their SDP and SDES keys, follows each dialog (re-INVITE,
// UPDATE, INFO keys, session timers, BYE), transfers calls by REFER or a
// bridged INVITE, and takes SIPREC recording sessions. Each answered call's
// RTP runs in package media, which signalling hands one media.Params built
// from the offer and answer; sip tells its Handler (the channel) of the
// call and passes it the media's audio sink.
package sip
