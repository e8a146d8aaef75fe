// Package channel turns each call into a Bot Framework conversation: it
// delivers the channel's activities to the bot in order, serves the
// Connector API the bot answers on, and dispatches the bot's recording
// commands to the call's recorder.
package channel
