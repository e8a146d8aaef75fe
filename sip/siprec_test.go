package sip

import (
	"errors"
	"strings"
	"testing"
)

const testRecordingSDP = "v=0\r\no=sbc 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=label:1\r\na=sendonly\r\n" +
	"m=audio 6002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:2\r\na=sendonly\r\n"

const testRecordingXML = `<recording xmlns="urn:ietf:params:xml:ns:recording:1">
 <session session_id="s1"/>
 <participant participant_id="p1"><nameID aor="sip:+14255550123@sbc"><name>Caller</name></nameID></participant>
 <participant participant_id="p2"><nameID aor="sip:+18005550199@sbc"/></participant>
 <stream stream_id="st2" session_id="s1"><label>2</label></stream>
 <stream stream_id="st1" session_id="s1"><label>1</label></stream>
 <participantstreamassoc participant_id="p2"><send>st2</send></participantstreamassoc>
 <participantstreamassoc participant_id="p1"><send>st1</send></participantstreamassoc>
</recording>`

func TestParseRecording(t *testing.T) {
	body := "--b\r\nContent-Type: application/sdp\r\n\r\n" + strings.TrimSuffix(testRecordingSDP, "\r\n") +
		"\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n" + testRecordingXML + "\r\n--b--\r\n"
	sdpBody, md, err := siprecParts("multipart/mixed;boundary=b", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	rec, offers, err := parseRecording(sdpBody, md)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Streams[0].Number != "+14255550123" || rec.Streams[0].Name != "Caller" || rec.Streams[1].Number != "+18005550199" ||
		offers[0].Codec.Name != "PCMA" || offers[1].Codec.Name != "PCMU" || offers[1].Remote.Port() != 6002 {
		t.Fatalf("recording %+v, offers %+v %+v", rec, offers[0], offers[1])
	}

	for name, c := range map[string]struct {
		sdp, xml string
		status   int
	}{
		"one stream":      {strings.Split(testRecordingSDP, "m=audio 6002")[0], testRecordingXML, 488},
		"broken metadata": {testRecordingSDP, "<recording><participant", 400},
		"SRTP":            {strings.ReplaceAll(testRecordingSDP, "RTP/AVP", "RTP/SAVP"), testRecordingXML, 488},
		"no G.711":        {strings.ReplaceAll(strings.ReplaceAll(testRecordingSDP, "PCMA", "G729"), "PCMU", "G729"), testRecordingXML, 488},
	} {
		_, _, err := parseRecording([]byte(c.sdp), []byte(c.xml))
		if code, _ := offerStatus(err); err == nil || code != c.status {
			t.Errorf("%s: %v (%d), want %d", name, err, code, c.status)
		}
	}
	if _, _, err := siprecParts("multipart/mixed;boundary=b", []byte("--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n")); !errors.Is(err, errNoMetadata) {
		t.Fatalf("multipart without metadata: %v", err)
	}
	if _, _, err := siprecParts("multipart/mixed", []byte(body)); err == nil {
		t.Fatal("multipart without a boundary parsed")
	}
}
