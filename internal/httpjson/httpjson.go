// Package httpjson writes JSON answers, and errors in the one shape every
// botline route uses: {"error":{"code":"...","message":"..."}} (the Bot
// Framework ErrorResponse).
package httpjson

import (
	"encoding/json"
	"net/http"

	"github.com/botline/botline/activity"
)

// Write answers status with v as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers status with an ErrorResponse.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, activity.ErrorResponse{Error: activity.Error{Code: code, Message: msg}})
}
