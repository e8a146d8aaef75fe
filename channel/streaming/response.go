package streaming

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// serve answers one of the bot's requests (a Connector API call) with the
// connection's handler, the same one that serves HTTP, and sends the
// response on the socket.
func (c *conn) serve(m *message) {
	status, body := http.StatusBadRequest, []byte(`{"error":{"code":"BadArgument","message":"bad streaming request"}}`)
	if req, err := http.NewRequest(strings.ToUpper(m.req.Verb), m.req.Path, bytes.NewReader(m.body)); err == nil {
		req.Header.Set("Content-Type", "application/json")
		w := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		c.handler.ServeHTTP(w, req)
		status, body = w.status, w.body.Bytes()
	}
	sid := uuid.NewString()
	head := responsePayload{StatusCode: status}
	if len(body) > 0 {
		head.Streams = jsonStream(sid, len(body))
	}
	if err := c.send(typeResponse, m.id, head, sid, body); err != nil {
		c.log.Warn("streaming response not sent", "path", m.req.Path, "err", err)
		c.close(err)
	}
}

// bufferedResponse is the http.ResponseWriter of a request that came over
// the socket.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

// Header returns the response headers (not sent: the frame has none).
func (w *bufferedResponse) Header() http.Header { return w.header }

// WriteHeader keeps the first status.
func (w *bufferedResponse) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}

// Write buffers the body.
func (w *bufferedResponse) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}
