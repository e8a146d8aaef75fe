package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers status with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers status with {"error": {"code", "message"}}: the Connector
// API's ErrorResponse (activity.ErrorResponse), which the recordings API
// shares.
func Error(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	Write(w, status, struct {
		Error body `json:"error"`
	}{body{code, msg}})
}
