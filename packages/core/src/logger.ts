import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  name: string;
  level?: string;
  destination?: DestinationStream;
}

/**
 * One JSON object a line. Request logs carry no headers at all (see app.ts), so no token can
 * reach a log line through them; `redact` covers a token passed by mistake at the top level.
 */
export function createLogger({ name, level, destination }: LoggerOptions): Logger {
  return pino(
    {
      name,
      level: level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: ['token', 'authorization'], censor: '[redacted]' },
    },
    destination ?? (stdout ??= bufferedStdout()),
  );
}

/** Standard output as every logger of this process writes it: one buffer, one order. */
let stdout: DestinationStream | undefined;

/** Bytes of log lines gathered before a write, and how long a line may wait for more. */
const LOG_BUFFER_BYTES = 4096;
const LOG_FLUSH_MS = 200;

/**
 * Standard output, written a few kilobytes at a time: a write per request line was a tenth of
 * a service's CPU under load (bench/config). A quiet service's lines wait at most 200 ms; what
 * is gathered is written out, in order, when the process exits, whatever ends it but a SIGKILL.
 */
function bufferedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, minLength: LOG_BUFFER_BYTES, sync: true });
  let waiting = false;
  setInterval(() => {
    if (!waiting || (stream as { destroyed?: boolean }).destroyed) return;
    waiting = false;
    stream.flush();
  }, LOG_FLUSH_MS).unref();
  // Written in order (sync: no write in flight to overtake) and whole when the process exits.
  process.once('exit', () => {
    if (!(stream as { destroyed?: boolean }).destroyed) stream.flushSync();
  });
  return {
    write(line: string) {
      waiting = true;
      stream.write(line);
    },
  };
}

/** What separates the words of a query value, a token being one word of it (a pipe and backquotes: a pasted command). */
const WORD_BREAK = /[\s,;:'"()<>[\]{}|`]+/;

/**
 * A word and, when it names a value (`SLIPWAY_TOKEN=…`, `--token=…`), what follows its first `=`:
 * not split there, a token ending in base64's `=` padding is still one word.
 */
const wordAndValue = (word: string): string[] => {
  const equals = word.indexOf('=');
  return equals < 0 ? [word] : [word, word.slice(equals + 1)];
};

/** Query parameters whose values are secrets by their name. */
const SECRET_PARAMETER = /token|secret|passw|auth|key|sig|credential|session|cookie/i;

/**
 * A URL fit for a log line: the value of every query parameter that is a secret — by its name,
 * by looking like a Slipway token or holding one, or by being or holding one of its words
 * (`isToken`) — replaced with [redacted].
 */
export function redactUrl(url: string, isToken: (value: string) => boolean = () => false): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const secret = (text: string) => {
    let value = text;
    if (text.includes('%') || text.includes('+')) {
      try {
        value = decodeURIComponent(text.replace(/\+/g, ' '));
      } catch {
        // not percent-encoded UTF-8: judged as it is
      }
    }
    if (value.includes('slw_') || (value.length >= 8 && isToken(value))) return true;
    // A token inside a longer value (a pasted command, a note): each of its first words asked alone.
    return value
      .split(WORD_BREAK, 32)
      .flatMap(wordAndValue)
      .some((word) => word.length >= 8 && word !== value && isToken(word));
  };
  const pairs = url
    .slice(start + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals < 0 ? pair : pair.slice(0, equals);
      if (secret(name)) return '[redacted]';
      if (equals < 0) return pair;
      return SECRET_PARAMETER.test(name) || secret(pair.slice(equals + 1)) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, start)}?${pairs.join('&')}`;
}
