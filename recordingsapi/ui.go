package recordingsapi

import (
	"crypto/subtle"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/botline/botline/internal/auth"
)

// This file serves the recordings page, /ui/: search by number and time,
// play in the browser, the waveform with pause and chunk marks, metadata,
// download and erase. The page is static; its script uses the JSON API
// above with the session cookie its login form sets.

//go:embed ui
var uiFiles embed.FS

// sessionLife is how long a login lasts.
const sessionLife = 12 * time.Hour

// UI serves the recordings page.
type UI struct {
	// Token is the API token; with one set, the page asks for it once and
	// keeps an HttpOnly session cookie.
	Token  string
	Logger *slog.Logger
}

// Register adds /ui/ and its login to mux.
func (u *UI) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFiles, "ui")
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	mux.HandleFunc("GET /ui/{$}", u.page)
	mux.HandleFunc("POST /ui/login", u.login)
	mux.HandleFunc("POST /ui/logout", u.logout)
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>botline recordings: sign in</title>
<link rel="stylesheet" href="/ui/static/style.css"></head>
<body><main class="login"><h1>botline recordings</h1>
<form method="post" action="/ui/login">
<label>API token <input type="password" name="token" id="token" autocomplete="current-password" autofocus required></label>
<button type="submit" id="signin">Sign in</button>
{{if .}}<p class="error" id="login-error">{{.}}</p>{{end}}
</form></main></body></html>`))

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; img-src 'self' data:")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (u *UI) page(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	if !auth.Allowed(u.Token, r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginPage.Execute(w, "")
		return
	}
	b, _ := uiFiles.ReadFile("ui/index.html")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if u.Token == "" {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	if auth.Throttled(r) {
		auth.TooMany(w)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(u.Token)) != 1 {
		auth.Failed(r)
		if u.Logger != nil {
			u.Logger.Warn("recordings page: wrong token", "remote", r.RemoteAddr)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_ = loginPage.Execute(w, "Wrong token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: auth.NewSession(u.Token, sessionLife), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionLife.Seconds())})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	auth.EndSession(r)
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}
