// An Event Grid-style consumer of botline's file-ready webhooks, with no
// framework: it answers the subscription validation botline sends before
// the first event, and accepts a post only when its Standard Webhooks
// signature (webhook-id, webhook-timestamp, webhook-signature) checks out
// against WEBHOOK_SECRET, the value botline was given as --events-secret.
// A post that fails the check gets 401 and is not acted on.
//
//   WEBHOOK_SECRET=... PORT=7070 node index.js
//   botline --events-url http://127.0.0.1:7070/events --events-secret ...
//
// It prints one JSON line per validation, accepted event and refusal.
const http = require('http');
const { Webhook } = require('standardwebhooks');

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error('WEBHOOK_SECRET is required: the --events-secret botline signs with');
  process.exit(2);
}
// whsec_<base64> is Standard Webhooks' own format; any other string is
// taken as it is, as botline takes it.
const wh = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
const log = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let events;
    try {
      events = wh.verify(body, req.headers); // throws unless botline signed exactly this body
    } catch (err) {
      log({ event: 'refused', reason: String(err.message || err) });
      res.writeHead(401).end();
      return;
    }
    if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
      const code = events[0].data.validationCode;
      log({ event: 'validation', code });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ validationResponse: code }));
      return;
    }
    for (const ev of events) {
      log({ event: 'accepted', id: ev.id, eventType: ev.eventType, subject: ev.subject, data: ev.data });
    }
    res.writeHead(200).end();
  });
});
const port = Number(process.env.PORT || 7070);
server.listen(port, '127.0.0.1', () => log({ event: 'listening', port }));
