// Package botauth makes botline its own Bot Framework token authority, the
// way a sovereign cloud runs one: it signs the tokens botline sends bots
// (RS256, the bot's app id as audience, the conversation's serviceUrl as a
// claim), publishes the OpenID metadata and keys bots check them with,
// issues bots the tokens they call the Connector API with (OAuth 2.0 client
// credentials), and validates those tokens on every Connector API call.
//
// A stock botbuilder bot points its parameterized auth settings here:
//
//	ToBotFromChannelOpenIdMetadataUrl = <issuer>/.well-known/openidconfiguration
//	ToBotFromChannelTokenIssuer       = <issuer>
//	ToChannelFromBotLoginUrl          = <issuer>/botline
//	ToChannelFromBotOAuthScope        = <scope>
package botauth
