package recordingsapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/botline/botline/internal/auth"
	"github.com/botline/botline/internal/httpjson"
	"github.com/botline/botline/recorder"
)

// Downloads serves finished recordings over HTTP, as ACS does:
// GET /recording/download/{documentId} (the audio, with Range support) and
// GET /recording/download/{documentId}/metadata.
type Downloads struct {
	Store recorder.Store
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token  string
	Logger *slog.Logger
}

// Register adds the download routes to mux.
func (d *Downloads) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /recording/download/{documentId}", d.auth(d.serveAudio))
	mux.HandleFunc("GET /recording/download/{documentId}/metadata", d.auth(d.serveMetadata))
	mux.HandleFunc("GET /recording/download/{documentId}/transcript", d.auth(d.serveTranscript))
	mux.HandleFunc("DELETE /recording/{documentId}", d.auth(d.serveDelete))
	mux.HandleFunc("GET /recordings", d.auth(d.serveSearch))
}

// serveTranscript serves a recording's transcript (the recording id is its
// first chunk's document id).
func (d *Downloads) serveTranscript(w http.ResponseWriter, r *http.Request) {
	b, err := d.Store.Transcript(r.Context(), r.PathValue("documentId"))
	switch {
	case errors.Is(err, recorder.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "NotFound", "no transcript for that recording")
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "InternalError", "transcript unreadable")
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}
}

// serveDelete erases a recording on request (GDPR erasure): 204, 404 for an
// unknown id, 409 while it is still being recorded.
func (d *Downloads) serveDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("documentId")
	switch err := recorder.Delete(r.Context(), d.Store, id); {
	case err == nil:
		if d.Logger != nil {
			d.Logger.Info("recording deleted on request", "documentId", id)
		}
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, recorder.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "NotFound", "unknown document id")
	case errors.Is(err, recorder.ErrInProgress):
		httpjson.Error(w, http.StatusConflict, "RecordingInProgress", "the recording is not finished yet")
	default:
		httpjson.Error(w, http.StatusInternalServerError, "InternalError", "delete failed")
		if d.Logger != nil {
			d.Logger.Error("delete failed", "documentId", id, "err", err)
		}
	}
}

func (d *Downloads) auth(h http.HandlerFunc) http.HandlerFunc { return auth.RequireBearer(d.Token, h) }

// finished loads the metadata of a finished recording, answering the
// request itself when there is none.
func (d *Downloads) finished(w http.ResponseWriter, r *http.Request) (string, recorder.Metadata, []byte, bool) {
	id := r.PathValue("documentId")
	md, raw, err := d.Store.Metadata(r.Context(), id)
	switch {
	case errors.Is(err, recorder.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "NotFound", "unknown document id")
		return "", md, nil, false
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "InternalError", "metadata unreadable")
		if d.Logger != nil {
			d.Logger.Error("download: metadata unreadable", "documentId", id, "err", err)
		}
		return "", md, nil, false
	case md.EndReason == "":
		httpjson.Error(w, http.StatusConflict, "RecordingInProgress", "the recording is not finished yet")
		return "", md, nil, false
	}
	return id, md, raw, true
}

func (d *Downloads) serveAudio(w http.ResponseWriter, r *http.Request) {
	id, md, _, ok := d.finished(w, r)
	if !ok {
		return
	}
	f, mod, err := d.Store.Audio(r.Context(), id)
	if err != nil {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "audio file missing")
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "audio/wav")
	if md.Encryption != nil { // the ciphertext, as stored: the gateway cannot decrypt it
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.wav.age"`)
	}
	http.ServeContent(w, r, "", mod, f) // Range, If-Range, 416 for bad ranges
}

func (d *Downloads) serveMetadata(w http.ResponseWriter, r *http.Request) {
	_, _, b, ok := d.finished(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (d *Downloads) serveSearch(w http.ResponseWriter, r *http.Request) {
	q, err := recorder.ParseQuery(r.URL.Query())
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadArgument", err.Error())
		return
	}
	found, err := recorder.Search(r.Context(), d.Store, q)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "InternalError", "search failed")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"recordings": found})
}
