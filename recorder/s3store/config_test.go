package s3store

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestOpen: the --store URL and endpoint forms an operator writes, and
// the one-line refusals of the rest.
func TestOpen(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	for _, c := range []struct{ url, endpoint, bucket, prefix, host, scheme string }{
		{"s3://recordings", "", "recordings", "", "s3.amazonaws.com", "https"},
		{"s3://recordings/site-1/calls/", "http://127.0.0.1:9000", "recordings", "site-1/calls/", "127.0.0.1:9000", "http"},
		{"s3://r/p", "minio.internal:9000", "r", "p/", "minio.internal:9000", "https"},
	} {
		b, err := Open(Config{URL: c.url, Endpoint: c.endpoint, AccessKey: "k", SecretKey: "s"})
		if err != nil {
			t.Fatalf("%s %s: %v", c.url, c.endpoint, err)
		}
		u := b.Client.EndpointURL()
		if b.Name != c.bucket || b.Prefix != c.prefix || u.Host != c.host || u.Scheme != c.scheme || b.Key("x.wav") != c.prefix+"x.wav" {
			t.Fatalf("%s %s: bucket %q prefix %q endpoint %s", c.url, c.endpoint, b.Name, b.Prefix, u)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9100")
	if b, err := Open(Config{URL: "s3://r"}); err != nil || b.Client.EndpointURL().Host != "127.0.0.1:9100" {
		t.Fatalf("endpoint from AWS_ENDPOINT_URL: %v", err)
	}
	for _, bad := range []Config{{URL: "recordings"}, {URL: "s3:///prefix"}, {URL: "http://bucket"}, {URL: "s3://r", Endpoint: "ftp://host"}} {
		if _, err := Open(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
}

// A store that answers it is not ready yet (MinIO starting: 503
// XMinioServerNotInitialized) is a store to wait for, not a reason to
// refuse to start; one that says no is.
func TestPrepareWaitsForAStoreStarting(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>m</Message></Error>`,
			map[int]string{503: "XMinioServerNotInitialized", 403: "AccessDenied"}[status])
	}))
	defer srv.Close()
	b, err := Open(Config{URL: "s3://recordings", Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Prepare(context.Background(), 5*time.Second); ok || err != nil {
		t.Fatalf("a store starting: %v %v, want not reachable and no error", ok, err)
	}
	status = http.StatusForbidden
	if ok, err := b.Prepare(context.Background(), 5*time.Second); ok || err == nil {
		t.Fatalf("a store refusing: %v %v, want an error", ok, err)
	}
}
