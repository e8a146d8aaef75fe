// Package auth guards botline's HTTP routes.
package auth
