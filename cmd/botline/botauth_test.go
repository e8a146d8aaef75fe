package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"sync"
	"testing"
)

var trustMu sync.Mutex

// trustCA makes the tests' HTTP clients (http.DefaultClient) trust the
// certificate in certFile, as Node does with NODE_EXTRA_CA_CERTS.
func trustCA(t *testing.T, certFile string) {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	trustMu.Lock()
	defer trustMu.Unlock()
	tr := http.DefaultTransport.(*http.Transport)
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	if tr.TLSClientConfig.RootCAs == nil { // once used, the transport has a config of its own
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if !tr.TLSClientConfig.RootCAs.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", certFile)
	}
}

// httpsFlags makes a throwaway CA-signed certificate for 127.0.0.1 in
// dir, trusts it, and returns the flags that serve HTTPS with it.
func httpsFlags(t *testing.T, dir string) (args []string, caFile string) {
	t.Helper()
	cert, key := selfSignedCert(t, dir, "127.0.0.1")
	trustCA(t, cert)
	return []string{"--http-tls-cert", cert, "--http-tls-key", key}, cert
}
