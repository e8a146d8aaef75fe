// Package activity holds the Bot Framework activity schema as botline speaks
// it: the envelope every activity carries, the names of the telephony
// commands, and builders for the activities the channel sends.
package activity
