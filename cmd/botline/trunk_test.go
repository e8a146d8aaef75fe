package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/sip"
	"github.com/botline/botline/sip/siptest"
)

// baresip is one run of the baresip softphone inside a peerNet: it dials
// target, plays a 600 Hz tone, and dumps what it hears (sndfile).
type baresip struct {
	dir  string
	out  syncBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
}

// startBaresip dials target from the account line (e.g.
// "<sip:alice@HOST>;auth_pass=...;mediaenc=srtp-mand"); it hangs up after
// hold at the latest. caFile, if set, is the TLS server certificate it
// trusts.
func startBaresip(t *testing.T, pn *peerNet, account, target, caFile string, hold time.Duration) *baresip {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatal("baresip is not installed: run `make test`, which installs Debian's baresip-core")
	}
	b := &baresip{dir: t.TempDir(), done: make(chan struct{})}
	if err := os.WriteFile(filepath.Join(b.dir, "tx.wav"), audio.Encode(audio.Tone(600, 10*time.Second, 8000, 8000), 8000), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`poll_method epoll
sip_listen %s:%d
audio_player aubridge,nil
audio_source aufile,%s
audio_alert aubridge,nil
snd_path %s
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module srtp.so
module_app account.so
module_app menu.so
`, pn.peer, 5070, filepath.Join(b.dir, "tx.wav"), b.dir)
	if caFile != "" {
		cfg += "sip_cafile " + caFile + "\n"
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "accounts"), []byte(account+";regint=0;audio_codecs=PCMU\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.cmd = pn.command("baresip", "-f", b.dir, "-e", "/dial "+target, "-t", fmt.Sprint(int(hold.Seconds())))
	b.cmd.Dir = b.dir
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
		if t.Failed() {
			t.Logf("baresip:\n%s", b.out.String())
		}
	})
	return b
}

// wait waits for baresip to exit (at -t, or once its call ended).
func (b *baresip) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(limit):
		t.Fatalf("baresip still running after %s", limit)
	}
}

// heard is what baresip decoded from the gateway (its sndfile dump).
func (b *baresip) heard(t *testing.T) []int16 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.dir, "dump-*-dec.wav"))
	if len(files) != 1 {
		t.Fatalf("baresip dumped %d received streams, want 1", len(files))
	}
	return decodeWAV(t, files[0])
}

// decodeWAV returns the samples of a WAV file.
func decodeWAV(t *testing.T, path string) []int16 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, _, _, err := audio.Decode(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pcm
}

// toneLevel is the amplitude of f Hz in s (8 kHz), by the Goertzel filter.
func toneLevel(s []int16, f float64) float64 {
	w := 2 * math.Pi * f / 8000
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(s))
}

// onlyRecording returns the one recording in the gateway's directory.
func onlyRecording(t *testing.T, gw *gateway) (wav []int16, md map[string]any) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(files) != 1 {
		t.Fatalf("%d recordings, want 1", len(files))
	}
	pcm := decodeWAV(t, files[0])
	b, err := os.ReadFile(strings.TrimSuffix(files[0], ".wav") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	return pcm, md
}

// A real softphone calls over TLS with SRTP mandatory (baresip,
// mediaenc=srtp-mand): the call is answered with SRTP, the recording holds
// the tone baresip played (decrypted), baresip hears the gateway's
// recording notice (encrypted by us, decrypted by it), and the gateway's
// BYE reaches it over the TLS connection it opened.
func TestBaresipTLSAndSRTP(t *testing.T) {
	pn := newPeerNet(t)
	cert, key := selfSignedCert(t, t.TempDir(), pn.host)
	sipAddr, tlsAddr := pn.hostAddr(t), pn.hostAddr(t)
	gw := startGateway(t, "--sip-listen", sipAddr, "--sip-tls-listen", tlsAddr, "--sip-tls-cert", cert, "--sip-tls-key", key,
		"--srtp", "required", "--sip-allow", pn.peer, "--default-bot-call-time", "4s", "--stt", "none", "--tts", "none")
	b := startBaresip(t, pn, "<sip:alice@"+pn.host+">;mediaenc=srtp-mand", "sip:+18005550199@"+tlsAddr+";transport=tls", cert, 15*time.Second)
	b.wait(t, 20*time.Second)
	gw.waitIdle(t)
	log := gw.log.String()
	if !strings.Contains(log, "transport=TLS srtp=AES_CM_128_HMAC_SHA1_80") {
		t.Fatalf("the call was not answered over TLS with SRTP")
	}
	if strings.Contains(log, "hang-up failed") || !strings.Contains(b.out.String(), "terminated (duration") {
		t.Fatalf("the gateway's BYE did not reach baresip over TLS")
	}
	rec, _ := onlyRecording(t, gw)
	if level := toneLevel(rec[len(rec)/4:len(rec)*3/4], 600); level < 2000 {
		t.Fatalf("600 Hz in the recording at %.0f, want baresip's tone (~8000)", level)
	}
	heard := b.heard(t)
	if len(heard) < 8000 {
		t.Fatalf("baresip decoded %d samples from the gateway: it could not decrypt our SRTP", len(heard))
	}
	if level := toneLevel(heard[:8000], 1400); level < 1000 {
		t.Fatalf("baresip did not hear the recording notice (1400 Hz at %.0f)", level)
	}
}

// Over UDP with digest credentials: the right password gets a recorded
// call; a wrong one gets no call, no conversation and no recording.
func TestBaresipDigestAuth(t *testing.T) {
	pn := newPeerNet(t)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("# trunk credentials\nalice:s3cret\n"), 0o600)
	sipAddr := pn.hostAddr(t)
	gw := startGateway(t, "--sip-listen", sipAddr, "--sip-auth", users, "--default-bot-call-time", "3s", "--stt", "none", "--tts", "none")

	wrong := startBaresip(t, pn, "<sip:alice@"+pn.host+">;auth_pass=guess", "sip:+18005550199@"+sipAddr, "", 10*time.Second)
	wrong.wait(t, 15*time.Second)
	if !strings.Contains(wrong.out.String(), "403 Forbidden") {
		t.Fatalf("a wrong password was not refused with 403")
	}
	if files, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(files) != 0 || strings.Contains(gw.log.String(), "conversation started") {
		t.Fatal("a caller with a wrong password got a conversation or a recording")
	}

	right := startBaresip(t, pn, "<sip:alice@"+pn.host+">;auth_pass=s3cret", "sip:+18005550199@"+sipAddr, "", 10*time.Second)
	right.wait(t, 15*time.Second)
	gw.waitIdle(t)
	rec, _ := onlyRecording(t, gw)
	if level := toneLevel(rec[len(rec)/4:len(rec)*3/4], 600); level < 2000 {
		t.Fatalf("600 Hz in the recording at %.0f, want baresip's tone", level)
	}
	if !strings.Contains(gw.log.String(), "transport=UDP srtp=\"\"") {
		t.Error("the UDP call was not plain RTP")
	}
	var st sip.Totals
	code, body := gw.request(t, "GET", "/stats", "", "")
	if json.Unmarshal(body, &st); code != 200 || st.RefusedUnauthorized < 2 {
		t.Fatalf("/stats %d %s: want the challenges and the 403 counted", code, body)
	}
}

// svRun runs a sipvicious scanner (svwar, svmap) from the peer namespace
// and returns what it printed.
func svRun(t *testing.T, pn *peerNet, tool string, args ...string) <-chan string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is not installed: run `make test`, which installs Debian's sipvicious", tool)
	}
	out := make(chan string, 1)
	cmd := pn.command("timeout", append([]string{"90", tool}, args...)...)
	go func() {
		b, _ := cmd.CombinedOutput()
		out <- string(b)
	}()
	return out
}

// Scanners (sipvicious svwar -m INVITE, svmap; with credentials also a
// SIPp flood of 400 INVITEs at 200/s from one source) against a gateway
// with an allow list or credentials: no call is answered, no conversation
// starts, no recording is made, and a legitimate call placed at the same
// time completes, recorded intact. (svwar gives up after its first probes
// get the same answer for every extension, as a scanner would.)
func TestScannersGetNothing(t *testing.T) {
	t.Run("allow list", func(t *testing.T) {
		pn := newPeerNet(t)
		sipAddr := pn.hostAddr(t)
		gw := startGateway(t, "--sip-listen", sipAddr, "--sip-allow", pn.host+"/32", "--stt", "none", "--tts", "none",
			"--recording-notice", "none")
		_, port, _ := strings.Cut(sipAddr, ":")
		war := svRun(t, pn, "svwar", "-m", "INVITE", "--force", "-e", "100-299", "-p", port, pn.host)
		smap := svRun(t, pn, "svmap", "-p", port, pn.host)
		call := sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "caller.xml"), "-i", pn.host)
		if r := <-call; r.err != nil {
			t.Fatalf("the legitimate SIPp call failed while scanned: %v\n%s", r.err, r.out)
		}
		w, m := <-war, <-smap
		gw.waitIdle(t)
		checkScanned(t, gw, 1, func(st sip.Totals) bool { return st.RefusedSource >= 3 }, w, m)
		rec, _ := onlyRecording(t, gw)
		if d := time.Duration(len(rec)) * time.Second / 8000; d < 6*time.Second || rmsInt16(rec) < 300 {
			t.Fatalf("the SIPp call's recording: %s long, RMS %.0f; want its ~7 s of speech", d, rmsInt16(rec))
		}
	})
	t.Run("silent allow list", func(t *testing.T) {
		pn := newPeerNet(t)
		sipAddr := pn.hostAddr(t)
		gw := startGateway(t, "--sip-listen", sipAddr, "--sip-allow", pn.host, "--sip-allow-silent", "--stt", "none", "--tts", "none")
		_, port, _ := strings.Cut(sipAddr, ":")
		m := <-svRun(t, pn, "svmap", "-p", port, pn.host)
		if strings.Contains(m, sipAddr) {
			t.Fatalf("svmap found the silent gateway:\n%s", m)
		}
		checkScanned(t, gw, 0, func(st sip.Totals) bool { return st.RefusedSource >= 1 }, m)
	})
	t.Run("credentials", func(t *testing.T) {
		pn := newPeerNet(t)
		users := filepath.Join(t.TempDir(), "users")
		os.WriteFile(users, []byte("trunk:Tr0ub4dor\n"), 0o600)
		sipAddr := pn.hostAddr(t)
		gw := startGateway(t, "--sip-listen", sipAddr, "--sip-auth", users, "--stt", "none", "--tts", "none", "--recording-notice", "none")
		_, port, _ := strings.Cut(sipAddr, ":")
		war := svRun(t, pn, "svwar", "-m", "INVITE", "--force", "-e", "100-299", "-p", port, pn.host)
		flood := pn.command("sipp", "-sn", "uac", "-i", pn.peer, "-p", "5099", "-r", "200", "-m", "400",
			"-timeout", "30", "-recv_timeout", "2000", "-nostdin", sipAddr)
		flood.Dir = t.TempDir()
		flooded := make(chan error, 1)
		go func() { flooded <- flood.Run() }() // exits non-zero: every call failed
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		phone, err := siptest.NewPhone(ctx, pn.host)
		if err != nil {
			t.Fatal(err)
		}
		phone.User, phone.Password = "trunk", "Tr0ub4dor"
		call, err := phone.Dial(ctx, sipAddr, "+14255550123", "+18005550199", nil)
		if err != nil {
			t.Fatalf("the legitimate call failed while scanned: %v", err)
		}
		if err := call.SendAudio(ctx, audio.Tone(600, 3*time.Second, 8000, 8000)); err != nil {
			t.Fatal(err)
		}
		call.Hangup(ctx)
		w := <-war
		<-flooded
		gw.waitIdle(t)
		checkScanned(t, gw, 1, func(st sip.Totals) bool { return st.RefusedUnauthorized >= 40 && st.RefusedRateLimited >= 100 }, w)
		rec, _ := onlyRecording(t, gw)
		if level := toneLevel(rec[len(rec)/4:len(rec)*3/4], 600); level < 2000 {
			t.Fatalf("600 Hz in the recording at %.0f, want the legitimate caller's tone", level)
		}
	})
}

// checkScanned checks that only the legitimate calls (calls of them) got
// a conversation and a recording, and that /stats counted the scan.
func checkScanned(t *testing.T, gw *gateway, calls int, counted func(sip.Totals) bool, scanOut ...string) {
	t.Helper()
	log := gw.log.String()
	if n := strings.Count(log, "conversation started"); n != calls {
		t.Fatalf("%d conversations started, want %d (the scanners' must start none)", n, calls)
	}
	if n := strings.Count(log, "call answered"); n != calls {
		t.Fatalf("%d calls answered, want %d", n, calls)
	}
	if files, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(files) != calls {
		t.Fatalf("%d recordings, want %d", len(files), calls)
	}
	var st sip.Totals
	code, body := gw.request(t, "GET", "/stats", "", "")
	if json.Unmarshal(body, &st); code != 200 || !counted(st) {
		t.Fatalf("/stats %d %s: the scan is not counted as refused\nscanner said:\n%s", code, body, strings.Join(scanOut, "\n"))
	}
}

func rmsInt16(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}
