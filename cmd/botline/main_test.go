package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/sip/siptest"
)

// binary is the botline binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "botline-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "botline")
	if out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build botline: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a running botline process.
type gateway struct {
	sipAddr, httpURL, dir string
	token                 string // its --api-token
	rtpLo, rtpHi          int    // its RTP port range
	log                   *syncBuffer
	stop                  func(t *testing.T) // SIGINT, wait for exit
	kill                  func()             // SIGKILL, wait for exit
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := siptest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startGateway runs the botline binary with args added to fresh listen
// addresses and recordings dir, and waits until it serves /healthz.
func startGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	// A port freePort found free can be taken by another test's client
	// socket before botline binds it: then botline exits at once, and it
	// is started again on other ports (unless the test chose them).
	for attempt := 1; ; attempt++ {
		g, bindErr := launchGateway(t, args...)
		if !bindErr {
			return g
		}
		if attempt == 3 {
			t.Fatalf("botline could not bind free ports 3 times:\n%s", g.log.String())
		}
		t.Logf("botline lost a race for a free port; starting it again")
	}
}

// launchGateway starts botline once; bindErr reports that it exited at
// start because a port it was given was taken meanwhile, and it may be
// started again on other ports.
func launchGateway(t *testing.T, args ...string) (g *gateway, bindErr bool) {
	t.Helper()
	g = &gateway{
		sipAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dir:     t.TempDir(),
		log:     &syncBuffer{},
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	scheme := "http://"
	ours := true // the addresses are ours to choose again
	// Flags given by the test win (the last occurrence counts).
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--http-tls-cert":
			scheme = "https://" // its CA trusted with trustCA
		case "--http-listen":
			httpAddr, ours = args[i+1], false
		case "--recordings-dir":
			g.dir = args[i+1]
		case "--api-token":
			g.token = args[i+1]
		case "--sip-listen":
			g.sipAddr, ours = args[i+1], false
		}
	}
	g.httpURL = scheme + httpAddr
	// RTP ports below the kernel's ephemeral range (32768+), where the
	// test's own client sockets cannot take them: 100 even ports.
	rtp := 10000 + freePort(t)%50*200
	g.rtpLo, g.rtpHi = rtp, rtp+199
	args = append([]string{"--sip-listen", g.sipAddr, "--http-listen", httpAddr, "--recordings-dir", g.dir,
		"--rtp-ports", fmt.Sprintf("%d-%d", rtp, rtp+199)}, args...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = g.log, g.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	g.kill = func() { cmd.Process.Kill(); <-exited }
	g.stop = func(t *testing.T) {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("botline did not stop on SIGINT")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		res, err := http.Get(g.httpURL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			if ours && strings.Contains(g.log.String(), "address already in use") {
				return g, true
			}
			t.Fatalf("botline exited at start:\n%s", g.log.String())
		case <-ctx.Done():
			g.kill()
			t.Fatalf("botline never became healthy:\n%s", g.log.String())
		case <-time.After(50 * time.Millisecond):
			continue
		}
	}
	t.Cleanup(func() {
		g.stop(t)
		if strings.Contains(g.log.String(), "DATA RACE") {
			t.Errorf("the race detector fired in botline")
		}
		if t.Failed() {
			t.Logf("botline log:\n%s", g.log.String())
		}
	})
	return g, false
}

// waitIdle waits until the gateway reports no live call: every call's
// recording is finalized and its end announced.
func (g *gateway) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", g.httpURL+"/healthz", nil)
		if g.token != "" {
			req.Header.Set("Authorization", "Bearer "+g.token)
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			var h struct{ Calls *int }
			json.NewDecoder(res.Body).Decode(&h)
			res.Body.Close()
			if h.Calls == nil {
				t.Fatal("/healthz did not say how many calls are live")
			}
			if *h.Calls == 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("gateway still has live calls")
}

// TestRefusesOpenRecordingsAPI checks that botline will not serve the
// recordings API on a non-loopback address without --api-token.
func TestRefusesOpenRecordingsAPI(t *testing.T) {
	out, err := exec.Command(binary, "--http-listen", fmt.Sprintf("0.0.0.0:%d", freePort(t)),
		"--sip-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--recordings-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--api-token is required") {
		t.Fatalf("started without a token on 0.0.0.0: %v\n%s", err, out)
	}
}

// TestRefusesOpenSIP checks that botline will not answer SIP on a
// non-loopback address (UDP/TCP or TLS) with neither --sip-allow nor
// --sip-auth, and says why in one line.
func TestRefusesOpenSIP(t *testing.T) {
	for _, args := range [][]string{
		{"--sip-listen", fmt.Sprintf("0.0.0.0:%d", freePort(t)), "--media-ip", "127.0.0.1"},
		{"--sip-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--sip-tls-listen", fmt.Sprintf("0.0.0.0:%d", freePort(t)),
			"--sip-tls-cert", "x", "--sip-tls-key", "x"},
	} {
		out, err := exec.Command(binary, append(args, "--http-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"--recordings-dir", t.TempDir(), "--tts", "none", "--stt", "none")...).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "--sip-allow or --sip-auth is required when SIP listens on a non-loopback address") {
			t.Fatalf("%v: started open, or did not say why in one line: %v\n%s", args, err, out)
		}
	}
}

// TestTLSRefusesWeakSuitesAndPlainSDES: the SIP TLS listener (and HTTPS,
// by the same configuration) takes TLS 1.2 only with AEAD suites (a client offering CBC-SHA1 alone is
// refused; one with GCM is served), and --srtp required without a TLS
// listener refuses to start, in one line, unless told plain signalling is
// meant.
func TestTLSRefusesWeakSuitesAndPlainSDES(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir, "127.0.0.1")
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startGateway(t, "--sip-tls-listen", tlsAddr, "--sip-tls-cert", cert, "--sip-tls-key", key, "--stt", "none", "--tts", "none")
	weak := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}
	if c, err := tls.Dial("tcp", tlsAddr, weak); err == nil {
		c.Close()
		t.Fatal("SIP over TLS took a CBC-SHA1 suite")
	}
	strong := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	c, err := tls.Dial("tcp", tlsAddr, strong)
	if err != nil {
		t.Fatalf("SIP over TLS refused TLS 1.2 with AES-GCM: %v", err)
	}
	c.Close()
	args := []string{"--srtp", "required", "--sip-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--recordings-dir", t.TempDir(), "--tts", "none", "--stt", "none"}
	out, err := exec.Command(binary, args...).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "--srtp required without --sip-tls-listen") {
		t.Fatalf("--srtp required over plain signalling: %v\n%s", err, out)
	}
	startGateway(t, "--srtp", "required", "--srtp-allow-plain-signalling", "--stt", "none", "--tts", "none")
}

// TestRefusesWeakSecrets: off loopback, a short --api-token or bot
// password refuses to start, saying so in one line.
func TestRefusesWeakSecrets(t *testing.T) {
	for _, args := range [][]string{
		{"--api-token", "x"},
		{"--api-token", strings.Repeat("t", 16), "--bot-app-id", "app", "--bot-app-password", "p"},
	} {
		out, err := exec.Command(binary, append(args, "--http-listen", fmt.Sprintf("0.0.0.0:%d", freePort(t)),
			"--sip-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--recordings-dir", t.TempDir(), "--tts", "none", "--stt", "none")...).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "characters: at least 16 when --http-listen") {
			t.Fatalf("%v on 0.0.0.0: %v\n%s", args, err, out)
		}
	}
}

// clientCert makes a self-signed client certificate for name (its own CA),
// written as PEM into dir.
func clientCert(t *testing.T, dir, name string) (certFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLS: with --sip-tls-client-ca the SIP TLS listener takes only
// clients with a certificate from those CAs, and with --sip-tls-peer-name
// only the one carrying that name.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir, "127.0.0.1")
	trunkFile, trunk := clientCert(t, dir, "trunk.example")
	otherFile, other := clientCert(t, dir, "other.example")
	stranger := func() tls.Certificate { _, c := clientCert(t, t.TempDir(), "stranger.example"); return c }()
	bundle := filepath.Join(dir, "cas.pem")
	a, _ := os.ReadFile(trunkFile)
	b, _ := os.ReadFile(otherFile)
	os.WriteFile(bundle, append(a, b...), 0o600)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startGateway(t, "--sip-tls-listen", tlsAddr, "--sip-tls-cert", cert, "--sip-tls-key", key,
		"--sip-tls-client-ca", bundle, "--sip-tls-peer-name", "trunk.example", "--stt", "none", "--tts", "none")
	dial := func(certs ...tls.Certificate) error {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, Certificates: certs})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err == nil {
		t.Fatal("a client without a certificate was taken")
	}
	if err := dial(stranger); err == nil {
		t.Fatal("a client certificate from no configured CA was taken")
	}
	if err := dial(other); err == nil {
		t.Fatal("a certificate from the CAs but without the pinned name was taken")
	}
	if err := dial(trunk); err != nil {
		t.Fatalf("the trunk's certificate was refused: %v", err)
	}
}
