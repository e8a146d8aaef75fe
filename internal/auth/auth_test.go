package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func guarded(token string) http.Handler {
	return RequireBearer(token, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
}

func request(method, cookie, authorization, origin string) *http.Request {
	r := httptest.NewRequest(method, "http://gw.example:8080/admin/drain", nil)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	return r
}

func status(h http.Handler, r *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// A session is a random id, different at every login, unrelated to the
// token, and dead after logout or expiry; it is bound to the token it was
// opened with.
func TestSessions(t *testing.T) {
	h := guarded("tok")
	a, b := NewSession("tok", time.Hour), NewSession("tok", time.Hour)
	if a == b || len(a) != 64 {
		t.Fatalf("sessions %q and %q: want two random 32-byte ids", a, b)
	}
	if c := status(h, request("GET", a, "", "")); c != 204 {
		t.Fatalf("GET with a session: %d", c)
	}
	EndSession(request("POST", a, "", ""))
	if c := status(h, request("GET", a, "", "")); c != 401 {
		t.Fatalf("GET after logout: %d, want 401", c)
	}
	if c := status(h, request("GET", b, "", "")); c != 204 {
		t.Fatalf("another login's session after one logged out: %d", c)
	}
	short := NewSession("tok", time.Millisecond)
	time.Sleep(5 * time.Millisecond) // past its life
	if c := status(h, request("GET", short, "", "")); c != 401 {
		t.Fatalf("an expired session: %d, want 401", c)
	}
	if c := status(guarded("other"), request("GET", b, "", "")); c != 401 {
		t.Fatalf("a session opened with another token: %d, want 401", c)
	}
	if c := status(h, request("GET", "forged", "", "")); c != 401 {
		t.Fatalf("a made-up session: %d, want 401", c)
	}
}

// A state-changing request on the strength of the cookie alone must come
// from this host's page; a bearer token needs no Origin.
func TestCrossSiteRequestsRefused(t *testing.T) {
	h := guarded("tok")
	s := NewSession("tok", time.Hour)
	for _, tc := range []struct {
		method, cookie, authorization, origin string
		want                                  int
	}{
		{"POST", s, "", "", 403},
		{"POST", s, "", "https://evil.example", 403},
		{"DELETE", s, "", "null", 403},
		{"POST", s, "", "http://gw.example:8080", 204},
		{"GET", s, "", "https://evil.example", 204}, // reads are the same-origin policy's
		{"POST", "", "Bearer tok", "", 204},
		{"POST", "", "Bearer nope", "http://gw.example:8080", 401},
	} {
		if c := status(h, request(tc.method, tc.cookie, tc.authorization, tc.origin)); c != tc.want {
			t.Errorf("%s cookie=%v auth=%q origin=%q: %d, want %d", tc.method, tc.cookie != "", tc.authorization, tc.origin, c, tc.want)
		}
	}
	r := request("POST", s, "", "")
	r.Header.Set("Referer", "http://gw.example:8080/ui/")
	if c := status(h, r); c != 204 {
		t.Fatalf("a POST from the page with only a Referer: %d", c)
	}
	if c := status(guarded(""), request("POST", "", "", "https://evil.example")); c != 204 {
		t.Fatalf("no token set (loopback only): %d, want 204", c)
	}
}

// Ten wrong secrets from one address lock it out for a while, right
// secret or not (429); another address, and loopback, are not held up.
func TestWrongSecretsAreThrottled(t *testing.T) {
	h := guarded("the-right-token-123")
	from := func(ip, authorization string) int {
		r := request("GET", "", authorization, "")
		r.RemoteAddr = ip + ":40000"
		return status(h, r)
	}
	before := Failures()
	for i := range 10 {
		if c := from("192.0.2.77", "Bearer guess"); c != 401 {
			t.Fatalf("wrong token %d: %d, want 401", i, c)
		}
	}
	if c := from("192.0.2.77", "Bearer the-right-token-123"); c != 429 {
		t.Fatalf("the right token after ten wrong ones: %d, want 429", c)
	}
	if c := from("192.0.2.78", "Bearer the-right-token-123"); c != 204 {
		t.Fatalf("another address: %d, want 204", c)
	}
	for range 12 {
		from("127.0.0.1", "Bearer guess")
	}
	if c := from("127.0.0.1", "Bearer the-right-token-123"); c != 204 {
		t.Fatalf("loopback after wrong tokens: %d, want 204 (not throttled)", c)
	}
	if n := Failures() - before; n != 22 {
		t.Fatalf("%d wrong secrets counted, want 22", n)
	}
	if c := from("192.0.2.79", ""); c != 401 || Failures()-before != 22 {
		t.Fatal("a request without a secret counted as a wrong one")
	}
}
