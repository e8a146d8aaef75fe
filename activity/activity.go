package activity

import "encoding/json"

// Activity types used by the telephony channel.
const (
	TypeMessage            = "message"
	TypeConversationUpdate = "conversationUpdate"
	TypeEndOfConversation  = "endOfConversation"
	TypeEvent              = "event"
	TypeCommand            = "command"
	TypeCommandResult      = "commandResult"
)

// ChannelID is the channelId of every activity botline sends.
const ChannelID = "telephony"

// Activity is one Bot Framework activity. Fields botline does not use are
// dropped when decoding.
type Activity struct {
	Type         string               `json:"type"`
	ID           string               `json:"id,omitempty"`
	Timestamp    string               `json:"timestamp,omitempty"`
	ServiceURL   string               `json:"serviceUrl,omitempty"`
	ChannelID    string               `json:"channelId,omitempty"`
	From         *ChannelAccount      `json:"from,omitempty"`
	Recipient    *ChannelAccount      `json:"recipient,omitempty"`
	Conversation *ConversationAccount `json:"conversation,omitempty"`
	ReplyToID    string               `json:"replyToId,omitempty"`
	Locale       string               `json:"locale,omitempty"`
	MembersAdded []ChannelAccount     `json:"membersAdded,omitempty"`
	Text         string               `json:"text,omitempty"`
	Speak        string               `json:"speak,omitempty"`
	InputHint    string               `json:"inputHint,omitempty"`
	Code         string               `json:"code,omitempty"`
	Name         string               `json:"name,omitempty"`
	Value        json.RawMessage      `json:"value,omitempty"`
	Entities     []json.RawMessage    `json:"entities,omitempty"`
	ChannelData  json.RawMessage      `json:"channelData,omitempty"`
}

// ChannelAccount identifies a participant: the caller or the bot.
type ChannelAccount struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
}

// ConversationAccount identifies the conversation an activity belongs to.
type ConversationAccount struct {
	ID string `json:"id"`
}

// ResourceResponse is the Connector API's answer to a posted activity.
type ResourceResponse struct {
	ID string `json:"id"`
}

// Error is the error object of an ErrorResponse and of a failed commandResult.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorResponse is the body of every failed Connector API request.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// EndOfConversation codes.
const (
	EndCompletedSuccessfully = "completedSuccessfully"
	EndBotIssuedInvalidMsg   = "botIssuedInvalidMessage"
	EndChannelFailed         = "channelFailed"
)
