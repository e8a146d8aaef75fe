package sip_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/botline/botline/sip"
)

// optionsOverTCP sends OPTIONS over a new TCP connection and returns the
// status line of the answer ("" if none within 3 s).
func optionsOverTCP(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "OPTIONS sip:svc@%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK%d\r\nFrom: <sip:t@%s>;tag=1\r\nTo: <sip:svc@%s>\r\nCall-ID: tcp-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		addr, local, time.Now().UnixNano(), local, addr, time.Now().UnixNano())
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, _ := c.Read(buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	return line
}

// closedSoon reports whether the server closes c within wait, having sent
// nothing.
func closedSoon(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !os.IsTimeout(err)
}

// Running out of file descriptors makes accepting fail; the server backs
// off and goes on, and serves TCP again once descriptors are free.
func TestOutOfDescriptorsDoesNotStopTheServer(t *testing.T) {
	addr, _, srv := startServerWith(t, 0)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	low := lim
	low.Cur = uint64(len(fds) + 30)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var hogs []net.Conn
	for range 200 { // each takes two descriptors here: the client's and, once accepted, the server's
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		hogs = append(hogs, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().ConnAcceptErrors == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	errs := srv.Stats().ConnAcceptErrors
	for _, c := range hogs {
		c.Close()
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if errs == 0 {
		t.Fatalf("no accept failed with %d connections under a limit of %d descriptors", len(hogs), low.Cur)
	}
	var got string
	for deadline := time.Now().Add(10 * time.Second); got != "SIP/2.0 200 OK" && time.Now().Before(deadline); {
		got = optionsOverTCP(t, addr)
	}
	if got != "SIP/2.0 200 OK" {
		t.Fatalf("after %d accept errors, OPTIONS over TCP got %q: the TCP listener stopped", errs, got)
	}
}

// A source the allow list refuses is closed at once; one source may hold
// MaxConnectionsPerSource connections, and a new one past that is closed
// until one goes.
func TestConnectionGuards(t *testing.T) {
	refusedAddr, _, refused := startServerWith(t, 0, func(c *sip.Config) {
		c.Allow, c.AllowSilent = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, true
	})
	c, err := net.Dial("tcp", refusedAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !closedSoon(c, 2*time.Second) || refused.Stats().ConnRefusedSource == 0 {
		t.Fatalf("a connection from a refused source was kept (%d counted)", refused.Stats().ConnRefusedSource)
	}

	addr, _, srv := startServerWith(t, 0, func(c *sip.Config) { c.MaxConnectionsPerSource = 3 })
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if !closedSoon(extra, 2*time.Second) || srv.Stats().ConnRefusedLimit != 1 {
		t.Fatalf("a fourth connection from one source was kept (%d counted)", srv.Stats().ConnRefusedLimit)
	}
	if closedSoon(held[0], 200*time.Millisecond) {
		t.Fatal("a connection within the bound was closed")
	}
	held[0].Close()
	var got string
	for deadline := time.Now().Add(5 * time.Second); got != "SIP/2.0 200 OK" && time.Now().Before(deadline); {
		got = optionsOverTCP(t, addr)
	}
	if got != "SIP/2.0 200 OK" {
		t.Fatalf("after one of the three went, a new connection got %q", got)
	}
}

// A TLS connection whose handshake does not finish is closed when the
// handshake's time is up; a whole handshake is served.
func TestTLSHandshakeTimesOut(t *testing.T) {
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, _, srv := startServerWith(t, 0, func(c *sip.Config) {
		c.TLSListen, c.TLSConfig, c.TLSHandshakeTimeout = tlsAddr, selfSigned(t), 500*time.Millisecond
	})
	c, err := net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}) // the start of a ClientHello, never finished
	start := time.Now()
	if !closedSoon(c, 5*time.Second) {
		t.Fatal("a half-sent handshake was still open after 5 s")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v, want about the 500 ms bound", d)
	}
	for deadline := time.Now().Add(2 * time.Second); srv.Stats().ConnHandshakeFailed == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) { // the close comes first: TLS closes the connection when its context ends
			t.Fatal("the failed handshake was not counted")
		}
	}
	tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("a whole handshake: %v", err)
	}
	tc.Close()
}

// selfSigned is a TLS server config with a fresh self-signed certificate.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

// With --sip-allow-silent, junk from a refused source is dropped before
// it is parsed: counted, never logged, whatever its size and number.
func TestJunkFromRefusedSourcesIsCountedNotLogged(t *testing.T) {
	var log syncBuffer
	addr, _, srv := startServerWith(t, 0, func(c *sip.Config) {
		c.Allow, c.AllowSilent = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, true
		c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := []byte(strings.Repeat("INVITE junk ", 5000)) // 60 KB
	deadline := time.Now().Add(20 * time.Second)
	for i := range 200 { // one at a time: a burst of 12 MB would overflow the socket's buffer
		c.Write(junk)
		for srv.Stats().RefusedSource <= uint64(i) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d junk datagrams counted", srv.Stats().RefusedSource, i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := log.Len(); n > 4096 {
		t.Fatalf("%d bytes of log for junk from a refused source:\n%.500s", n, log.String())
	}
}

// syncBuffer is a log written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
