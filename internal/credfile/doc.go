// Package credfile reads the name:password files botline's flags take
// (--sip-auth, --bot-credentials).
package credfile
