package sip

import "testing"

func TestParseDTMFInfo(t *testing.T) {
	for _, c := range []struct {
		ct, body string
		want     byte
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= #\r\nDuration=160", '#', true},
		{"Application/DTMF-Relay; charset=x", "signal=10\r\n", '*', true},
		{"application/dtmf", "9", '9', true},
		{"application/dtmf-relay", "Signal=Z", 0, false},
		{"text/plain", "5", 0, false},
	} {
		got, ok := parseDTMFInfo(c.ct, []byte(c.body))
		if got != c.want || ok != c.ok {
			t.Errorf("%s %q: %q %v, want %q %v", c.ct, c.body, got, ok, c.want, c.ok)
		}
	}
}
