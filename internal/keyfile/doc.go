// Package keyfile keeps a private key in a file: read when it is there,
// generated and stored owner-only at first start otherwise, so what was
// signed before a restart still verifies after it.
package keyfile
