// Package streaming speaks the Bot Framework streaming protocol
// (docs/PROTOCOL.md, 1.2) over a WebSocket the gateway opens to the bot:
// frame.go holds the framing, assembler.go puts frames back together into
// requests and responses, conn.go multiplexes one socket, client.go keeps a
// socket open and delivers activities on it, response.go serves the bot's
// requests through an http.Handler.
package streaming
