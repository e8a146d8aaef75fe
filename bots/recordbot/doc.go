// Package recordbot is botline's default bot: it starts recording when the
// caller joins and ends the call after a set time. It runs embedded in the
// gateway or standalone behind HTTP (bots/cmd/recordbot).
package recordbot
