// Command recordbot runs botline's default recording bot as a standalone
// HTTP bot: start botline with --bot-endpoint http://127.0.0.1:3978/api/messages.
package main
