// botline's sample IVR bot for JavaScript developers: a stock botbuilder-js
// CloudAdapter bot (no app id or password) that answers phone calls through
// botline. Key 1 reads a balance, key 2 takes a card number with the
// recording paused, key 0 transfers to an agent, and anything said is
// repeated back. It listens on http://127.0.0.1:$BOT_PORT/api/messages for
// both of botline's bot transports: HTTP (the default) and Bot Framework
// streaming (botline --bot-transport streaming). See README.md.
const express = require('express');
const {
  ActivityHandler, CloudAdapter, ConfigurationBotFrameworkAuthentication, InputHints, MessageFactory,
} = require('botbuilder');
const { AuthenticationConstants, ClaimsIdentity } = require('botframework-connector');

const RECORDING = 'channel/vnd.microsoft.telephony.recording.';
const AGENT = process.env.AGENT_NUMBER || '+18005550100';
const MENU = 'For your account balance, press 1. To enter a card number, press 2. '
  + 'To talk to an agent, press 0. Or say something, and I will repeat it.';

// Speak a prompt; the inputHint decides whether the caller can barge in.
const say = (text, hint = InputHints.ExpectingInput) => MessageFactory.text(text, text, hint);
const command = (op, id) => ({ type: 'command', name: RECORDING + op, value: { commandId: `${op}-${id}` } });
const isKey = (activity) => (activity.entities || []).some((e) => e.type === 'DTMF');
const spell = (keys) => [...keys].map((k) => ({ '*': 'star', '#': 'pound' }[k] || k)).join(' ');

class IvrBot extends ActivityHandler {
  constructor() {
    super();
    this.calls = new Map(); // conversation id -> { card, digits, silences }

    this.onMembersAdded(async (context, next) => {
      const id = context.activity.conversation.id;
      this.calls.set(id, { card: false, digits: '', silences: 0 });
      await context.sendActivity(command('start', context.activity.id));
      await context.sendActivity(say(`Welcome to botline. ${MENU}`));
      await next();
    });

    this.onMessage(async (context, next) => {
      const call = this.state(context);
      call.silences = 0;
      const text = (context.activity.text || '').trim();
      if (!isKey(context.activity)) { // recognized speech
        if (!call.card) await context.sendActivity(say(`You said: ${text}. ${MENU}`));
      } else if (call.card) { // keying in a card number: never logged or repeated
        if (text !== '#') {
          call.digits += text;
        } else {
          const last = call.digits.slice(-4);
          call.card = false;
          call.digits = '';
          await context.sendActivity(command('resume', context.activity.id));
          await context.sendActivity(say(`Thank you. Your card ending in ${spell(last)} is confirmed. ${MENU}`));
        }
      } else if (text === '1') {
        await context.sendActivity(say(`Your balance is forty two dollars. ${MENU}`));
      } else if (text === '2') {
        call.card = true;
        await context.sendActivity(command('pause', context.activity.id));
        await context.sendActivity(say('Please key in your card number, then press pound. Recording is paused while you do.',
          'ignoringSpeechInput'));
      } else if (text === '0') {
        await context.sendActivity(say('Transferring you to an agent.', InputHints.IgnoringInput));
        await context.sendActivity({ type: 'event', name: 'handoff.initiate', value: { TargetPhoneNumber: AGENT } });
      } else {
        await context.sendActivity(say(`Sorry, ${spell(text)} is not an option. ${MENU}`));
      }
      await next();
    });

    this.onEvent(async (context, next) => {
      const { name } = context.activity;
      if (name === 'silence') {
        const call = this.state(context);
        call.silences += 1;
        if (call.silences >= 3) {
          await context.sendActivity(say('Goodbye.', InputHints.IgnoringInput));
          await context.sendActivity({ type: 'endOfConversation', code: 'completedSuccessfully' });
        } else {
          await context.sendActivity(say(`Are you still there? ${MENU}`));
        }
      } else if (name === 'handoff.status') {
        await context.sendActivity(say(`Sorry, no agent can take your call right now. ${MENU}`));
      } else if (name === 'recording.fileReady') {
        console.log(JSON.stringify({ event: 'recordingReady', value: context.activity.value }));
      }
      await next();
    });

    this.onEndOfConversation(async (context, next) => {
      this.calls.delete(context.activity.conversation.id);
      await next();
    });
  }

  state(context) {
    const id = context.activity.conversation.id;
    if (!this.calls.has(id)) this.calls.set(id, { card: false, digits: '', silences: 0 });
    return this.calls.get(id);
  }
}

// botbuilder-js 4.23 skips JWT checks for HTTP when no app id is set, but
// not for a streaming upgrade. Without credentials, accept the upgrade as
// anonymous too; with MicrosoftAppId set, the normal checks apply.
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

const auth = new LocalAuthentication(process.env);
const onTurnError = async (context, error) => {
  console.error(`turn error: ${error && error.stack || error}`);
};
const adapter = new CloudAdapter(auth);
adapter.onTurnError = onTurnError;
const bot = new IvrBot();

const app = express();
app.use(express.json({ limit: '1mb' }));
app.post('/api/messages', (req, res) => adapter.process(req, res, (context) => bot.run(context)));
const port = Number(process.env.BOT_PORT || 3978);
const server = app.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', port })));
server.on('upgrade', async (req, socket, head) => {
  const streamingAdapter = new CloudAdapter(auth); // one per connection
  streamingAdapter.onTurnError = onTurnError;
  await streamingAdapter.process(req, socket, head, (context) => bot.run(context));
});
