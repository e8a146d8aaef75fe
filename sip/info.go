package sip

import (
	"strings"

	"github.com/botline/botline/media"
)

// This file reads key presses sent in SIP INFO requests; RFC 4733 events
// in the RTP are media's.

// parseDTMFInfo reads the key of a SIP INFO body: application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5").
func parseDTMFInfo(contentType string, body []byte) (byte, bool) {
	s := strings.TrimSpace(string(body))
	switch strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0])) {
	case "application/dtmf-relay":
		for line := range strings.Lines(s) {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				return infoKey(strings.TrimSpace(v))
			}
		}
	case "application/dtmf":
		return infoKey(s)
	}
	return 0, false
}

func infoKey(v string) (byte, bool) {
	if len(v) == 1 {
		if _, ok := media.DTMFEvent(v[0]); ok {
			return strings.ToUpper(v)[0], true
		}
	}
	switch v { // some PBXes send the event code
	case "10":
		return '*', true
	case "11":
		return '#', true
	}
	return 0, false
}
