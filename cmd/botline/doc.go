// Command botline is the telephony channel for Bot Framework bots: it
// answers SIP calls, turns each into a conversation with a bot, and records
// calls on the bot's command.
package main
