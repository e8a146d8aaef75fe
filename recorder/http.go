package recorder

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Downloads serves finished recordings over HTTP, as ACS does:
// GET /recording/download/{documentId} (the audio, with Range support) and
// GET /recording/download/{documentId}/metadata.
type Downloads struct {
	Store Store
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token  string
	Logger *slog.Logger
}

// Register adds the download routes to mux.
func (d *Downloads) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /recording/download/{documentId}", d.auth(d.serveAudio))
	mux.HandleFunc("GET /recording/download/{documentId}/metadata", d.auth(d.serveMetadata))
	mux.HandleFunc("DELETE /recording/{documentId}", d.auth(d.serveDelete))
	mux.HandleFunc("GET /recordings", d.auth(d.serveSearch))
}

// serveDelete erases a recording on request (GDPR erasure): 204, 404 for an
// unknown id, 409 while it is still being recorded.
func (d *Downloads) serveDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("documentId")
	switch err := Delete(r.Context(), d.Store, id); {
	case err == nil:
		if d.Logger != nil {
			d.Logger.Info("recording deleted on request", "documentId", id)
		}
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrNotFound):
		httpError(w, http.StatusNotFound, "NotFound", "unknown document id")
	case errors.Is(err, ErrInProgress):
		httpError(w, http.StatusConflict, "RecordingInProgress", "the recording is not finished yet")
	default:
		httpError(w, http.StatusInternalServerError, "InternalError", "delete failed")
		if d.Logger != nil {
			d.Logger.Error("delete failed", "documentId", id, "err", err)
		}
	}
}

// ValidDocumentID reports whether id has the shape botline issues (26
// lower-case base32 characters); anything else, ".." and "/" included, is
// refused before the file system is touched.
func ValidDocumentID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

func (d *Downloads) auth(h http.HandlerFunc) http.HandlerFunc { return RequireBearer(d.Token, h) }

// RequireBearer wraps h so that, when token is set, a request without
// "Authorization: Bearer <token>" gets 401.
func RequireBearer(token string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="botline"`)
				httpError(w, http.StatusUnauthorized, "Unauthorized", "a valid bearer token is required")
				return
			}
		}
		h(w, r)
	}
}

// finished loads the metadata of a finished recording, answering the
// request itself when there is none.
func (d *Downloads) finished(w http.ResponseWriter, r *http.Request) (string, []byte, bool) {
	id := r.PathValue("documentId")
	md, raw, err := d.Store.Metadata(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpError(w, http.StatusNotFound, "NotFound", "unknown document id")
		return "", nil, false
	case err != nil:
		httpError(w, http.StatusInternalServerError, "InternalError", "metadata unreadable")
		if d.Logger != nil {
			d.Logger.Error("download: metadata unreadable", "documentId", id, "err", err)
		}
		return "", nil, false
	case md.EndReason == "":
		httpError(w, http.StatusConflict, "RecordingInProgress", "the recording is not finished yet")
		return "", nil, false
	}
	return id, raw, true
}

func (d *Downloads) serveAudio(w http.ResponseWriter, r *http.Request) {
	id, _, ok := d.finished(w, r)
	if !ok {
		return
	}
	f, mod, err := d.Store.Audio(r.Context(), id)
	if err != nil {
		httpError(w, http.StatusNotFound, "NotFound", "audio file missing")
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "audio/wav")
	http.ServeContent(w, r, "", mod, f) // Range, If-Range, 416 for bad ranges
}

func (d *Downloads) serveMetadata(w http.ResponseWriter, r *http.Request) {
	_, b, ok := d.finished(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func writeBody(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
