// A stock botbuilder-js 4.x bot for botline's interop test. It answers on
// http://127.0.0.1:$BOT_PORT/api/messages with CloudAdapter and no app id or
// password. When the caller joins it sends the recording commands of the
// script below one at a time, each after the previous one's commandResult,
// then ends the call. Every activity it receives, and the id the channel
// returned for every command it sent, is printed as one JSON line on stdout.
// It takes the Bot Framework streaming transport too: botline's
// `--bot-transport streaming` opens a WebSocket to the same /api/messages,
// which CloudAdapter accepts on the HTTP server's upgrade event. With
// DROP_AT_STEP=k it destroys that socket when the commandResult of step k
// arrives, before handling it, to prove the channel reconnects and
// delivers it again.
const express = require('express');
const {
  ActivityHandler, CloudAdapter, ConfigurationBotFrameworkAuthentication,
} = require('botbuilder');
const {
  AuthenticationConstants, ClaimsIdentity, MsalServiceClientCredentialsFactory,
} = require('botframework-connector');
const { ConfidentialClientApplication } = require('@azure/msal-node');

const rec = (op) => `channel/vnd.microsoft.telephony.recording.${op}`;
// value undefined = no value at all, as older C# helpers send pause/resume.
const script = [
  { name: rec('pause'), value: { commandId: 'c1' } },
  { name: rec('stop'), value: { commandId: 'c2' } },
  { name: rec('resume') },
  { name: rec('start'), value: { commandId: 'c4' } },
  { name: rec('start'), value: { commandId: 'c5' } },
  { name: rec('resume'), value: { commandId: 'c6' } },
  { name: rec('pause'), value: { commandId: 'c7' } },
  { name: rec('pause'), value: { commandId: 'c8' } },
  { name: rec('start'), value: { commandId: 'c9' } },
  { name: rec('resume') },
  { name: rec('stop'), value: { commandId: 'c11' } },
  { name: rec('stop'), value: { commandId: 'c12' } },
  { name: rec('start'), value: { commandId: 'c13' } },
  { name: rec('pause'), value: { commandId: 'c14' } },
  { name: rec('stop'), value: { commandId: 'c15' } },
  { name: rec('start'), value: { commandId: 'c16' } },
  { name: 'channel/vnd.microsoft.telephony.unknown', value: { commandId: 'c17' } },
];
const pauseMs = Number(process.env.STEP_DELAY_MS || 200);
const dropAtStep = process.env.DROP_AT_STEP === undefined ? -1 : Number(process.env.DROP_AT_STEP);
const sockets = new Set(); // streaming connections' sockets

const log = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class InteropBot extends ActivityHandler {
  constructor() {
    super();
    this.step = new Map(); // conversation id -> next step
    this.onMembersAdded(async (context, next) => {
      const a = context.activity;
      log({ event: 'conversationUpdate', activity: a });
      if (a.membersAdded.some((m) => m.id !== a.recipient.id)) {
        this.step.set(a.conversation.id, 0);
        await this.sendStep(context);
      }
      await next();
    });
    this.onCommandResult(async (context, next) => {
      const answered = (this.step.get(context.activity.conversation.id) || 0) - 1;
      if (answered === dropAtStep && !this.dropped) {
        this.dropped = true;
        log({ event: 'dropping', step: answered, sockets: sockets.size });
        for (const s of sockets) s.destroy();
        return;
      }
      log({ event: 'commandResult', activity: context.activity });
      await sleep(pauseMs); // let some audio through between commands
      await this.sendStep(context);
      await next();
    });
    this.onEndOfConversation(async (context, next) => {
      log({ event: 'endOfConversation', activity: context.activity });
      await next();
    });
  }

  async sendStep(context) {
    const conv = context.activity.conversation.id;
    const i = this.step.get(conv);
    if (i === undefined) return;
    if (i >= script.length) {
      this.step.delete(conv);
      const res = await context.sendActivity({ type: 'endOfConversation', code: 'completedSuccessfully' });
      log({ event: 'sent', step: i, type: 'endOfConversation', id: res && res.id });
      return;
    }
    this.step.set(conv, i + 1);
    const cmd = { type: 'command', name: script[i].name };
    if (script[i].value !== undefined) cmd.value = script[i].value;
    const res = await context.sendActivity(cmd);
    log({ event: 'sent', step: i, type: 'command', name: cmd.name, value: cmd.value, id: res && res.id });
  }
}

// botbuilder-js 4.23 skips JWT checks for HTTP when no app id is set, but
// not for a streaming upgrade: authenticateStreamingRequest validates the
// (absent) token anyway and refuses "No valid identity". Without
// credentials, accept the upgrade as anonymous, as HTTP is.
class LocalAuthentication extends ConfigurationBotFrameworkAuthentication {
  async authenticateStreamingRequest(authHeader, channelIdHeader) {
    if (!process.env.MicrosoftAppId && !(authHeader || '').trim()) {
      return {
        audience: AuthenticationConstants.ToChannelFromBotOAuthScope,
        callerId: undefined,
        claimsIdentity: new ClaimsIdentity([], AuthenticationConstants.AnonymousAuthType),
      };
    }
    return super.authenticateStreamingRequest(authHeader, channelIdHeader);
  }
}
// Every auth setting comes from the environment, as in the botbuilder
// samples: MicrosoftAppId, MicrosoftAppPassword, ToBotFromChannelOpenIdMetadataUrl,
// ToBotFromChannelTokenIssuer, ToChannelFromBotLoginUrl,
// ToChannelFromBotOAuthScope, ValidateAuthority.
//
// The one code change a bot needs against a login authority that is not
// Microsoft's (botline's ToChannelFromBotLoginUrl): botbuilder-js 4.23
// builds its MSAL client without knownAuthorities, so MSAL first asks
// Microsoft's cloud instance discovery whether the host may be trusted,
// which fails offline ("endpoints_resolution_error") and names botline's
// host to Microsoft otherwise. Giving the adapter an MSAL client that
// lists the host as known is all it takes; the settings stay as they are.
function credentialsFactory(env) {
  const login = env.ToChannelFromBotLoginUrl;
  if (!env.MicrosoftAppId || !login || /^https:\/\/login\.(microsoftonline|botframework)\./i.test(login)) {
    return undefined; // Azure: botbuilder's own factory
  }
  return new MsalServiceClientCredentialsFactory(env.MicrosoftAppId, new ConfidentialClientApplication({
    auth: {
      clientId: env.MicrosoftAppId,
      clientSecret: env.MicrosoftAppPassword,
      authority: login,
      knownAuthorities: [new URL(login).host],
    },
  }));
}
const auth = new LocalAuthentication(process.env, credentialsFactory(process.env));
const onTurnError = async (context, error) => {
  log({ event: 'error', message: String(error && error.stack || error) });
};
const adapter = new CloudAdapter(auth);
adapter.onTurnError = onTurnError;
const bot = new InteropBot();
const app = express();
app.use(express.json({ limit: '1mb' }));
app.post('/api/messages', (req, res) => adapter.process(req, res, (context) => bot.run(context)));
const port = Number(process.env.BOT_PORT || 3978);
const server = app.listen(port, '127.0.0.1', () => log({ event: 'listening', port }));
// Streaming: one adapter per connection, as the botbuilder samples do.
server.on('upgrade', async (req, socket, head) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  log({ event: 'connected', channelId: req.headers.channelid });
  const streamingAdapter = new CloudAdapter(auth);
  streamingAdapter.onTurnError = onTurnError;
  try {
    await streamingAdapter.process(req, socket, head, (context) => bot.run(context));
  } catch (err) {
    log({ event: 'error', message: String(err && err.stack || err) });
  }
});
