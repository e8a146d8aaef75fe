package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/botline/botline/recorder"
)

// decrypt is `botline decrypt -identity KEYFILE [-o OUT] FILE.age`: it
// restores an encrypted recording's WAV (with its real sizes: the bytes an
// unencrypted recording has), metadata or transcript with the owner's age
// identity. OUT defaults to FILE without .age; "-" is standard output.
func decrypt(args []string) int {
	fs := flag.NewFlagSet("decrypt", flag.ContinueOnError)
	identity := fs.String("identity", "", "age identity file (AGE-SECRET-KEY-1...)")
	out := fs.String("o", "", "where the plaintext goes (default FILE without .age; - for standard output)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *identity == "" {
		fmt.Fprintln(os.Stderr, "usage: botline decrypt -identity KEYFILE [-o OUT] FILE.age")
		return 2
	}
	in := fs.Arg(0)
	idf, err := os.Open(*identity)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline decrypt:", err)
		return 2
	}
	ids, err := recorder.ParseIdentities(idf)
	idf.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline decrypt:", err)
		return 2
	}
	src, err := os.Open(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline decrypt:", err)
		return 2
	}
	defer src.Close()
	dst := *out
	if dst == "" {
		dst = strings.TrimSuffix(in, recorder.EncryptedExt)
		if dst == in {
			dst = in + ".decrypted"
		}
	}
	var w io.Writer = os.Stdout
	if dst != "-" {
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "botline decrypt:", err)
			return 2
		}
		defer f.Close()
		w = f
	}
	if err := recorder.Decrypt(src, w, ids); err != nil {
		fmt.Fprintln(os.Stderr, "botline decrypt:", filepath.Base(in)+":", err)
		return 1
	}
	return 0
}
