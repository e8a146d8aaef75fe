package streaming

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gorilla/websocket"
)

// Framing limits: a frame is a 48-byte ASCII header "T.LLLLLL.<uuid>.E\n"
// and at most 4096 bytes of payload.
const (
	headerLen  = 48
	maxPayload = 4096
)

// frameType is the T of a frame header.
type frameType byte

// Frame types.
const (
	typeRequest   frameType = 'A'
	typeResponse  frameType = 'B'
	typeStream    frameType = 'S'
	typeCancelAll frameType = 'X'
	typeCancel    frameType = 'C'
)

// header is one parsed frame header.
type header struct {
	typ    frameType
	length int
	id     string
	end    bool
}

// marshal returns the 48-byte header.
func (h header) marshal() []byte {
	end := 0
	if h.end {
		end = 1
	}
	return fmt.Appendf(nil, "%c.%06d.%s.%d\n", h.typ, h.length, h.id, end)
}

var errBadHeader = errors.New("malformed streaming frame header")

// parseHeader reads a 48-byte frame header.
func parseHeader(b []byte) (header, error) {
	if len(b) != headerLen || b[1] != '.' || b[8] != '.' || b[45] != '.' || b[47] != '\n' {
		return header{}, errBadHeader
	}
	n, err := strconv.Atoi(string(b[2:8]))
	if err != nil || n < 0 || n > 999999 {
		return header{}, errBadHeader
	}
	if b[46] != '0' && b[46] != '1' {
		return header{}, errBadHeader
	}
	return header{typ: frameType(b[0]), length: n, id: string(b[9:45]), end: b[46] == '1'}, nil
}

// streamDesc describes one body stream of a request or response.
type streamDesc struct {
	ID          string `json:"id"`
	Type        string `json:"type,omitempty"` // what botbuilder-js and -dotnet send and read
	ContentType string `json:"contentType,omitempty"`
	Length      int    `json:"length,omitempty"`
}

// requestPayload is the header payload of a request frame.
type requestPayload struct {
	Verb    string       `json:"verb"`
	Path    string       `json:"path"`
	Streams []streamDesc `json:"streams,omitempty"`
}

// responsePayload is the header payload of a response frame.
type responsePayload struct {
	StatusCode int          `json:"statusCode"`
	Streams    []streamDesc `json:"streams,omitempty"`
}

// contentJSON is the content type of every stream botline sends.
const contentJSON = "application/json; charset=utf-8"

// jsonStream describes a JSON body stream.
func jsonStream(id string, length int) []streamDesc {
	return []streamDesc{{ID: id, Type: contentJSON, ContentType: contentJSON, Length: length}}
}

// frameReader reads frames from a WebSocket whose messages form one byte
// stream: a frame may span messages, and a message may hold several.
type frameReader struct {
	ws  *websocket.Conn
	cur io.Reader
	hdr [headerLen]byte
}

// Read reads across message boundaries.
func (r *frameReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			typ, rd, err := r.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage && typ != websocket.TextMessage {
				continue
			}
			r.cur = rd
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// next reads one frame: its header and payload.
func (r *frameReader) next() (header, []byte, error) {
	if _, err := io.ReadFull(r, r.hdr[:]); err != nil {
		return header{}, nil, fmt.Errorf("read: %w", err)
	}
	h, err := parseHeader(r.hdr[:])
	if err != nil {
		return header{}, nil, fmt.Errorf("%w: %q", err, r.hdr[:])
	}
	if h.length > maxPayload {
		return header{}, nil, fmt.Errorf("streaming frame of %d bytes: at most %d", h.length, maxPayload)
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return header{}, nil, fmt.Errorf("read: %w", err)
	}
	return h, payload, nil
}
