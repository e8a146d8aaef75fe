// Package connguard guards a TCP listener before a server sees its
// connections: an accept error (out of file descriptors) is backed off
// from and never ends the server, a source the server refuses is closed as
// it is accepted, connections are bounded in all and per source, and a
// TLS handshake finishes within a bound, off the accept loop.
package connguard
