package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The server's root credentials; Start sets them as AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY for the test.
const (
	User     = "botline-test"
	Password = "botline-test-secret"
)

// Server is one MinIO server.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Addr     string // 127.0.0.1:port
	Client   *minio.Client

	dir    string
	log    *logBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

// Binary finds the MinIO server `make deps-minio` built; the test fails,
// saying how to get it, when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BOTLINE_TEST_MINIO"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	if found, _ := filepath.Glob(filepath.Join(home, ".cache", "botline", "minio-*", "minio")); len(found) > 0 {
		sort.Strings(found)
		return found[len(found)-1]
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	t.Fatal("MinIO not built: run `make test` (or `make deps-minio`), which builds it from the Go module proxy")
	return ""
}

// Start runs a MinIO server for the rest of the test and sets the AWS_*
// credentials for it.
func Start(t testing.TB) *Server {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir(), log: &logBuffer{}}
	s.Endpoint = "http://" + s.Addr
	if s.Client, err = minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(User, Password, "")}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", User)
	t.Setenv("AWS_SECRET_ACCESS_KEY", Password)
	s.Start(t)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("MinIO log:\n%s", s.Log())
		}
	})
	return s
}

// Start runs the server (again, on the same port and data) and waits
// until it serves the S3 API (its health check answers before its object
// layer is up: "Server not initialized yet"); the test fails with MinIO's
// log if it does not within 30 s.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	console, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(Binary(t), "server", s.dir, "--address", s.Addr, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), "--quiet")
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+User, "MINIO_ROOT_PASSWORD="+Password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(s.cmd, s.exited)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = s.Client.ListBuckets(ctx)
				cancel()
				if err == nil {
					return
				}
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("MinIO exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO not ready on %s:\n%s", s.Addr, s.Log())
		}
	}
}

// Stop kills the server (an outage, as far as a client can tell).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Log is what the server printed.
func (s *Server) Log() string { return s.log.String() }

// freePort is a TCP port on 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logBuffer collects the server's output from its two pipes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
