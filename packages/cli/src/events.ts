/**
 * Following a service's event stream (a bake's log, a deployment's or a release's events) until
 * its `end` event, whatever happens to the connection on the way: a stream cut mid-way (a proxy,
 * a restarted service, Redis away for a moment) is asked for again with the last event's id
 * (`Last-Event-ID`), so nothing is said twice or missed; a 503 is waited out as its `Retry-After`
 * says. The work runs on the platform either way, and the person is told so once.
 *
 * Events are parsed by eventsource-parser (the SSE grammar in full: comments, CR/LF line ends,
 * `retry`, multi-line data), not by hand.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { brokenConnection, PASSING, raw, wait, type ServiceName } from './api.js';
import { CliError } from './errors.js';
import { dim } from './output.js';

export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

/** A stream that says nothing, not even its keep-alive (every 15 s), for this long is taken for dead. */
const SILENCE_MS = 60_000;
/** Asking again stops after this long without a stream that answers. */
const GIVE_UP_MS = 10 * 60_000;

export interface StreamOptions {
  /** What keeps running on the platform, for the words said while the stream is away: `the deployment`. */
  work: string;
  /** How to follow it again, said if following is given up: `slipway watch dep-…`. */
  again: string;
  /** Says the outage (once); shared with the follow's other reads so it is said once in all. */
  notice?: (why: string) => void;
}

/** Says on stderr, once, that the stream is away and the work keeps running. */
export function outageNotice(work: string): (why: string) => void {
  let said = false;
  return (why) => {
    if (said) return;
    said = true;
    process.stderr.write(`slipway: ${why}; trying again — ${work} keeps running on the platform\n`);
  };
}

/**
 * The events of a service's stream, to its `end` event: a 404 is said as `missing`, another
 * refusal in the service's words; a cut stream or a 5xx is asked again.
 */
export async function* streamEvents(
  service: ServiceName,
  path: string,
  missing: string,
  options: StreamOptions,
): AsyncGenerator<ServerEvent> {
  const notice = options.notice ?? outageNotice(options.work);
  let lastId: string | undefined;
  let retryMs = 250;
  let failingSince: number | undefined;
  for (let connected = false; ;) {
    const silence = new AbortController();
    let response: Response;
    try {
      response = await raw(service, path, {
        headers: { Accept: 'text/event-stream', ...(lastId ? { 'Last-Event-ID': lastId } : {}) },
        signal: silence.signal,
      });
    } catch (error) {
      // Never reached at all: the CLI's own words about where it looked. Reached before, or a
      // connection that broke under the request (a proxy, a kept-alive one just closed): a blip.
      if (!connected && !brokenConnection((error as { cause?: unknown }).cause)) throw error;
      response = new Response(null, { status: 503 });
    }
    if (!response.ok && !PASSING.has(response.status)) {
      const body = (await response.json().catch(() => ({}))) as { detail?: string };
      throw new CliError(response.status === 404 ? missing : (body.detail ?? `${service} answered ${response.status}`));
    }
    if (response.ok) {
      connected = true;
      failingSince = undefined;
      let ended = false;
      try {
        for await (const event of readEvents(response, silence)) {
          retryMs = 250; // it served: a cut after this is asked again soon
          if (event.id) lastId = event.id;
          yield event;
          if (event.event === 'end') {
            ended = true;
            return;
          }
        }
      } catch {
        // Cut mid-stream (a reset, a proxy, the silence timer): asked again below.
      } finally {
        if (!ended) silence.abort();
      }
      notice(`the ${service}'s event stream was cut`);
    } else {
      await response.body?.cancel().catch(() => undefined);
      notice(`the ${service} is unavailable (${response.status})`);
      const after = Number(response.headers.get('retry-after'));
      retryMs = Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 5000) : retryMs;
    }
    failingSince ??= Date.now();
    if (Date.now() - failingSince > GIVE_UP_MS)
      throw new CliError(`lost the ${service}'s event stream; ${options.work} keeps running: ${options.again}`);
    await wait(retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  }
}

/** A response's events, parsed as they come; a stream silent for SILENCE_MS is aborted. */
async function* readEvents(response: Response, silence: AbortController): AsyncGenerator<ServerEvent> {
  if (!response.body) return;
  const ready: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => ready.push(event) });
  const decoder = new TextDecoder();
  let timer = setTimeout(() => silence.abort(), SILENCE_MS);
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), SILENCE_MS);
      parser.feed(decoder.decode(chunk, { stream: true }));
      while (ready.length > 0) {
        const { event, data, id } = ready.shift()!;
        yield { event: event ?? 'message', data, ...(id !== undefined ? { id } : {}) };
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** One event of a deployment or a release, its data parsed, its time as `hh:mm:ss` (dimmed). */
export interface RecordEvent {
  event: string;
  data: Record<string, unknown>;
  at: string;
}

/**
 * A deployment's or a release's events to their end. With --json each is printed as it came and
 * not handed on: the caller only words them.
 */
export async function* recordEvents(
  kind: 'deployment' | 'release',
  id: string,
  options: { json?: boolean; notice: (why: string) => void },
): AsyncGenerator<RecordEvent> {
  const missing =
    kind === 'deployment'
      ? `there is no deployment ${id} (slipway history)`
      : `there is no release ${id} (slipway releases)`;
  const events = streamEvents('orchestrator', `/${kind}s/${id}/events`, missing, {
    work: `the ${kind}`,
    again: `slipway watch ${id}`,
    notice: options.notice,
  });
  for await (const event of events) {
    if (event.event === 'end') return;
    const data = JSON.parse(event.data) as Record<string, unknown>;
    if (options.json) {
      process.stdout.write(`${JSON.stringify(data)}\n`);
      continue;
    }
    yield { event: event.event, data, at: dim(String(data.at).slice(11, 19)) };
  }
}
