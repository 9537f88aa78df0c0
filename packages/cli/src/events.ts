/** Reads a server-sent event stream (bake logs, deployment and release events) as it comes. */
import { raw, type ServiceName } from './api.js';
import { CliError } from './errors.js';

export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

export async function* readEvents(response: Response): AsyncGenerator<ServerEvent> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: ServerEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const field of block.split('\n')) {
        const at = field.indexOf(':');
        const [name, value] = at < 0 ? [field, ''] : [field.slice(0, at), field.slice(at + 1).replace(/^ /, '')];
        if (name === 'event') event.event = value;
        else if (name === 'data') data.push(value);
        else if (name === 'id') event.id = value;
      }
      event.data = data.join('\n');
      yield event;
    }
  }
}

/** The events of a service's stream: a 404 said as `missing`, another refusal in the service's words. */
export async function* streamEvents(service: ServiceName, path: string, missing: string): AsyncGenerator<ServerEvent> {
  const response = await raw(service, path);
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { detail?: string };
    throw new CliError(response.status === 404 ? missing : (body.detail ?? `${service} answered ${response.status}`));
  }
  yield* readEvents(response);
}
