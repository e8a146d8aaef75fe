// Package s3test runs a real MinIO server for tests (the one `make
// deps-minio` builds from the Go module proxy, found by
// $BOTLINE_TEST_MINIO, in ~/.cache/botline, or on $PATH) on a free port of
// 127.0.0.1 with its data in a temporary directory. Stop and Start it
// again to play an outage.
package s3test
