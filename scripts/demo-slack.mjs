// The Slack part of `npm run demo` (alone: `node scripts/demo-slack.mjs`, with `npm start`
// running): a local stand-in for Slack signs `/slipway …` commands with the platform's signing
// secret ($SLIPWAY_HOME/slack-signing-secret), sends them to the chat service, and prints what
// Slack would show: the answer within 3 s, then each update of the message through response_url.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bold = (text) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\u001b[1m${text}\u001b[0m` : text);
const DEMO_USER = { id: 'U0DEMO', name: 'demo' };

export async function slackDemo(commands, { home, base }) {
  const { SlackStandIn } = await import(join(root, 'packages/chat/dist/stand-in.js'));
  // The demo's Slack user is a deployer in Slipway; the chat service reads the file again when it changes.
  const usersFile = join(home, 'chat-users.json');
  const users = JSON.parse(readFileSync(usersFile, 'utf8'));
  if (!users[DEMO_USER.id]) {
    users[DEMO_USER.id] = { subject: 'demo', role: 'deployer' };
    writeFileSync(usersFile, `${JSON.stringify(users, null, 2)}\n`);
  }
  const slack = await SlackStandIn.start({
    signingSecret: readFileSync(join(home, 'slack-signing-secret'), 'utf8').trim(),
    chatUrl: `http://127.0.0.1:${base + 6}`,
  });
  try {
    for (const { text, until } of commands) {
      console.log(bold(`\n[Slack] ${DEMO_USER.name}: /slipway ${text}`));
      const started = Date.now();
      const answer = await slack.command(text, DEMO_USER);
      console.log(`  (${answer.status} in ${Date.now() - started} ms, only you can see this) ${answer.body.text}`);
      if (!until) continue;
      let shown = 0;
      await slack.waitFor(
        answer.responseId,
        (message) => {
          for (const m of slack.messages(answer.responseId).slice(shown)) console.log(`  (message updated) ${m.text}`);
          shown = slack.messages(answer.responseId).length;
          return until.test(message.text ?? '');
        },
        600_000,
      );
    }
  } finally {
    await slack.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const home = process.env.SLIPWAY_HOME ?? join(root, '.slipway');
  const base = Number(process.env.SLIPWAY_PORT_BASE ?? 7100);
  // The undo is staging's, never prod's: it redeploys staging's release before the one it runs
  // (or says there is none), so running this demo changes nothing that serves prod.
  console.log(bold('(the undo below is of search staging: prod is left as it is)'));
  await slackDemo(
    [
      { text: 'help' },
      { text: 'status' },
      { text: 'history search prod' },
      {
        text: 'undo search staging -m "From Slack, staging only"',
        until: /deployed|failed|rolled back|cancelled|:warning:/,
      },
    ],
    { home, base },
  );
}
