/**
 * A stand-in for Slack on this machine, for tests and the demo: it sends slash commands and
 * button presses to the chat service signed exactly as Slack signs them (v0, HMAC-SHA256 of
 * `v0:{timestamp}:{body}` with the signing secret), and it is the server behind their
 * `response_url`s and behind an incoming webhook, keeping every message it is sent.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedMessage {
  /** `response/<id>` or `webhook`. */
  to: string;
  body: Record<string, unknown> & { text?: string; replace_original?: boolean; blocks?: unknown[] };
}

export function slackSignature(signingSecret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SlackUser {
  id: string;
  name?: string;
  team?: string;
}

export interface SentRequest {
  status: number;
  /** Parsed when it was JSON. */
  body: Record<string, unknown> & { text?: string; response_type?: string };
  /** Where Slack would take this request's later messages. */
  responseId: string;
  /** What was sent, to send it again (a replay). */
  signed: { timestamp: number; signature: string; body: string };
}

export class SlackStandIn {
  readonly received: ReceivedMessage[] = [];
  private server!: Server;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly signingSecret: string,
    private readonly chatUrl: string,
  ) {}

  /** `chatUrl`: the chat service, e.g. http://127.0.0.1:7106. */
  static async start(options: { signingSecret: string; chatUrl: string }): Promise<SlackStandIn> {
    const slack = new SlackStandIn(options.signingSecret, options.chatUrl.replace(/\/+$/, ''));
    slack.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const to = (req.url ?? '/').slice(1);
        let body: ReceivedMessage['body'];
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedMessage['body'];
        } catch {
          res.writeHead(400).end('invalid_payload');
          return;
        }
        slack.received.push({ to, body });
        for (const wake of slack.waiters.splice(0)) wake();
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => slack.server.listen(0, '127.0.0.1', resolve));
    return slack;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** An incoming webhook URL whose messages this keeps (`webhook`). */
  get webhookUrl(): string {
    return `${this.url}/webhook`;
  }

  /** Messages sent to one response_url, or to the webhook (`webhook`). */
  messages(to: string): ReceivedMessage['body'][] {
    return this.received.filter((m) => m.to === to || m.to === `response/${to}`).map((m) => m.body);
  }

  /** Resolves when a message to `to` satisfies `check`; fails after `timeoutMs`. */
  async waitFor(
    to: string,
    check: (message: ReceivedMessage['body']) => boolean,
    timeoutMs = 20_000,
  ): Promise<ReceivedMessage['body']> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages(to).find(check);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`Slack stand-in: no such message to ${to}; got ${JSON.stringify(this.messages(to))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** `/slipway <text>` typed by `user`, as Slack posts it. */
  command(
    text: string,
    user: SlackUser,
    options: { timestamp?: number; signingSecret?: string; command?: string } = {},
  ): Promise<SentRequest> {
    const responseId = randomBytes(6).toString('hex');
    const body = new URLSearchParams({
      token: 'deprecated-verification-token',
      team_id: user.team ?? 'T0001',
      team_domain: 'example',
      channel_id: 'C0001',
      channel_name: 'deployments',
      user_id: user.id,
      user_name: user.name ?? user.id,
      command: options.command ?? '/slipway',
      text,
      api_app_id: 'A0001',
      is_enterprise_install: 'false',
      response_url: `${this.url}/response/${responseId}`,
      trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
    }).toString();
    return this.send('/slack/commands', body, responseId, options);
  }

  /** A press of a button (block_actions) on a message, as Slack posts it. */
  press(
    button: { actionId: string; value: string; text?: string },
    user: SlackUser,
    options: { timestamp?: number; signingSecret?: string } = {},
  ): Promise<SentRequest> {
    const responseId = randomBytes(6).toString('hex');
    const payload = {
      type: 'block_actions',
      team: { id: user.team ?? 'T0001', domain: 'example' },
      user: { id: user.id, username: user.name ?? user.id, name: user.name ?? user.id, team_id: user.team ?? 'T0001' },
      api_app_id: 'A0001',
      token: 'deprecated-verification-token',
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0001', is_ephemeral: false },
      trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
      channel: { id: 'C0001', name: 'deployments' },
      message: { type: 'message', text: 'notification', ts: '1700000000.000100' },
      response_url: `${this.url}/response/${responseId}`,
      actions: [
        {
          type: 'button',
          action_id: button.actionId,
          block_id: 'slipway',
          text: { type: 'plain_text', text: button.text ?? button.actionId, emoji: true },
          value: button.value,
          action_ts: `${Date.now() / 1000}`,
        },
      ],
    };
    return this.send(
      '/slack/actions',
      new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
      responseId,
      options,
    );
  }

  /** Sends a body exactly as it was signed: tests replay one with `resend`. */
  async send(
    path: string,
    body: string,
    responseId: string,
    options: { timestamp?: number; signingSecret?: string; signature?: string } = {},
  ): Promise<SentRequest> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const signature = options.signature ?? slackSignature(options.signingSecret ?? this.signingSecret, timestamp, body);
    const response = await fetch(`${this.chatUrl}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-Slack-Request-Timestamp': String(timestamp),
        'X-Slack-Signature': signature,
        'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      },
      body,
    });
    const text = await response.text();
    let parsed: SentRequest['body'] = {};
    try {
      parsed = text ? (JSON.parse(text) as SentRequest['body']) : {};
    } catch {
      parsed = { text };
    }
    return { status: response.status, body: parsed, responseId, signed: { timestamp, signature, body } };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
