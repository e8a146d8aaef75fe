// Package media runs calls' RTP: each call's Stream receives the far end's
// packets into a jitter buffer, and a clock of one goroutine per core ticks
// every stream every 20 ms, handing a frame of what was heard and what was
// played to the stream's AudioSink and sending a frame back. Around that:
// G.711 codecs, RFC 4733 keys, SRTP contexts, the shared RTP ports of
// --rtp-mux, the relay of a bridged transfer, and receive statistics.
//
// It knows nothing of SIP: signalling negotiates an offer and answer and
// hands a Stream one Params built from them (where to send, the codec, the
// telephone-event type, hold), and an SRTP's keys when encrypted.
package media
