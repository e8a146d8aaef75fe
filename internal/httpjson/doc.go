// Package httpjson writes JSON answers, and errors in the one shape every
// botline route uses: {"error":{"code":"...","message":"..."}} (the Bot
// Framework ErrorResponse).
package httpjson
