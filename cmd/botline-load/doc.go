// Command botline-load places many concurrent SIP calls that stream G.711
// audio against a SIP target on this machine (botline, or any SIP server you
// run on loopback), and reports call setup, RTP loss, lateness and jitter in
// both directions, and its own CPU so a starved generator shows.
//
//	botline-load --target 127.0.0.1:5060 --calls 200 --concurrency 200 --rate 100 --hold 20s \
//	  --gateway-stats http://127.0.0.1:8080/stats
package main
