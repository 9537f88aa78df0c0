/**
 * The id of the request being served, wherever its handling goes (awaits included), so that the
 * typed clients pass it on to peers and one id follows a request across services' logs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const requestIds = new AsyncLocalStorage<string>();

export function withRequestId<T>(id: string, run: () => T): T {
  return requestIds.run(id, run);
}

/** The id of the request this code is serving; undefined in background work (jobs, timers). */
export function currentRequestId(): string | undefined {
  return requestIds.getStore();
}
