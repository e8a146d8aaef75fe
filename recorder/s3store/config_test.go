package s3store

import (
	"strings"
	"testing"
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
