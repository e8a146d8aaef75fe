package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// peerNet is a network namespace holding a test's SIP peers (baresip, a
// scanner), joined to this one by a veth pair: the gateway listens on
// host (198.18.N.1, on this side) and the peers send from peer
// (198.18.N.2), an address that exists only inside the namespace. No
// packet leaves the machine.
type peerNet struct {
	ns         string
	host, peer string
}

var netSeq atomic.Int32

// newPeerNet makes the namespace and its link; they are removed when the
// test ends. It needs root and iproute2 (`make test` installs it).
func newPeerNet(t *testing.T) *peerNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) is not installed: run `make test`, which installs it")
	}
	n := (os.Getpid()+int(netSeq.Add(1)))%250 + 1
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, netSeq.Load())
	p := &peerNet{ns: "bl" + id, host: fmt.Sprintf("198.18.%d.1", n), peer: fmt.Sprintf("198.18.%d.2", n)}
	hostIf, peerIf := "blh"+id, "blp"+id
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", p.ns)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", p.ns).Run()
		exec.Command("ip", "link", "del", hostIf).Run() // gone with the namespace, normally
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", peerIf)
	run("link", "set", peerIf, "netns", p.ns)
	run("addr", "add", p.host+"/24", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("-n", p.ns, "addr", "add", p.peer+"/24", "dev", peerIf)
	run("-n", p.ns, "link", "set", peerIf, "up")
	run("-n", p.ns, "link", "set", "lo", "up")
	return p
}

// command runs a program inside the namespace.
func (p *peerNet) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", p.ns, name}, args...)...)
}

// hostAddr is host:port for a free port on the host side.
func (p *peerNet) hostAddr(t *testing.T) string {
	t.Helper()
	l, err := net.ListenPacket("udp", p.host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().String()
}

// selfSignedCert writes a certificate for ip and its key (PEM) into dir.
func selfSignedCert(t *testing.T, dir, ip string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "botline test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
