// Command ivrbot runs botline's sample IVR bot as a standalone HTTP bot:
// start botline with --bot-endpoint http://127.0.0.1:3978/api/messages.
package main
