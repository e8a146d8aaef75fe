// Package s3store keeps botline's recordings in an S3-compatible bucket (AWS
// S3, MinIO, Ceph, ...), so that every node of a cluster can serve, search
// and delete every recording. Store reads through the bucket (and the local
// recordings directory, for what is not uploaded yet); Uploader copies each
// finished recording into the bucket off the media path, through restarts
// and store outages, and only then lets its file-ready event go out.
//
// It uses github.com/minio/minio-go/v7: one small module that speaks S3's
// API to any S3-compatible server (AWS's SDK v2 drags in a module per
// service and is tuned to AWS), with the usual AWS_* credential chain.
package s3store
