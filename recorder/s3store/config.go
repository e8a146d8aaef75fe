package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	// URL is s3://bucket or s3://bucket/prefix.
	URL string
	// Endpoint is the server, as a URL (http://127.0.0.1:9000) or host:port
	// (HTTPS). Empty: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS.
	Endpoint string
	// Region; empty: $AWS_REGION, else the server's answer.
	Region string
	// AccessKey and SecretKey, if set, are the credentials; else the AWS
	// chain: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, ~/.aws/credentials,
	// then the instance's role.
	AccessKey, SecretKey string
}

// Bucket is an opened bucket: the client and where objects go in it.
type Bucket struct {
	Client *minio.Client
	Name   string
	Prefix string // "" or ends with "/"
}

// Key is the object name of a file name.
func (b *Bucket) Key(name string) string { return b.Prefix + name }

// Open parses cfg and makes a client; it does not reach the server.
func Open(cfg Config) (*Bucket, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("--store %q: want s3://bucket or s3://bucket/prefix", cfg.URL)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	endpoint := cfg.Endpoint
	for _, env := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if endpoint == "" {
			endpoint = os.Getenv(env)
		}
	}
	secure, host := true, endpoint
	switch {
	case endpoint == "":
		host = "s3.amazonaws.com"
	case strings.Contains(endpoint, "://"):
		e, err := url.Parse(endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, fmt.Errorf("store endpoint %q: want http(s)://host:port or host:port", endpoint)
		}
		secure, host = e.Scheme == "https", e.Host
	}
	region := cfg.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	// Few retries inside one call: the after-call pipeline retries uploads
	// with its backoff, and says when the store is down rather than hanging
	// in a call.
	c, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: region, MaxRetries: 2})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Bucket{Client: c, Name: u.Host, Prefix: prefix}, nil
}

// Prepare checks the bucket at start-up and creates it when it does not
// exist. A server that does not answer within timeout, or answers that it
// is not ready, is not an error:
// recordings wait in the upload spool until it is back. Wrong credentials
// or a bucket that cannot be created are.
func (b *Bucket) Prepare(ctx context.Context, timeout time.Duration) (reachable bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, err := b.Client.BucketExists(ctx, b.Name)
	switch {
	case err != nil && unreachable(ctx, err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store bucket %s: %w", b.Name, err)
	case ok:
		return true, nil
	}
	err = b.Client.MakeBucket(ctx, b.Name, minio.MakeBucketOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" { // another node made it first
		return false, fmt.Errorf("store bucket %s does not exist and could not be created: %w", b.Name, err)
	}
	return true, nil
}

// unreachable tells a server that did not answer, or is not ready (a 5xx:
// MinIO's "Server not initialized yet" while it starts), from one that
// said no.
func unreachable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	code := minio.ToErrorResponse(err).StatusCode
	return code == 0 || code >= 500
}

// notFound reports whether err is the server saying the object is not there.
func notFound(err error) bool {
	if err == nil {
		return false
	}
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound" || errors.Is(err, os.ErrNotExist)
}
