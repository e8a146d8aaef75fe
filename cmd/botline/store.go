package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store"
)

// storeOptions choose where finished recordings are kept.
type storeOptions struct {
	url, endpoint, region string
}

func (s *storeOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&s.url, "store", "", "keep finished recordings in an S3-compatible bucket, s3://bucket[/prefix] (created if missing), instead of only --recordings-dir: uploaded after each call, served, searched and deleted from any node; credentials from $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or the instance role")
	fs.StringVar(&s.endpoint, "store-endpoint", "", "the S3 server, http(s)://host:port (MinIO: http://127.0.0.1:9000); empty = $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS")
	fs.StringVar(&s.region, "store-region", "", "the bucket's region; empty = $AWS_REGION, else asked of the server")
}

// open returns the recordings store: the directory alone, or the bucket
// (with the directory for what is not uploaded yet) and its uploader, whose
// spool is in dir. A store that does not answer does not stop botline:
// recordings wait on disk until it is back.
func (s *storeOptions) open(ctx context.Context, dir string, log *slog.Logger) (recorder.Store, *s3store.Uploader, error) {
	local := recorder.LocalStore{Dir: dir}
	if s.url == "" {
		return local, nil, nil
	}
	b, err := s3store.Open(s3store.Config{URL: s.url, Endpoint: s.endpoint, Region: s.region})
	if err != nil {
		return nil, nil, err
	}
	reachable, err := b.Prepare(ctx, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if !reachable {
		log.Warn("recording store not answering: recordings stay on disk until it does", "store", s.url, "endpoint", b.Client.EndpointURL().String())
	}
	st := &s3store.Store{Bucket: b, Local: local}
	return st, &s3store.Uploader{Store: st, Logger: log}, nil
}
