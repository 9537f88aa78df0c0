/**
 * What a local load balancer counts of its own traffic, per server group: requests, answers by
 * class, connection errors, timeouts and a response-time histogram, in one-second slots kept a
 * quarter of an hour and one-minute slots kept a day (AWS's CloudWatch keeps ALB metrics by the
 * minute). Per target it counts failures in a row, as Envoy's outlier detection does, and says
 * which answers a watcher must hear at once: every failure, and the success that ends a run of them.
 */
import type { GroupTraffic, TrafficEvent } from '../provider.js';
import { bucketOf, LATENCY_BOUNDS_MS, percentileOf } from '../latency.js';

export type Outcome = TrafficEvent['outcome'];

const OUTCOMES: readonly Outcome[] = ['2xx', '3xx', '4xx', '5xx', 'connection-error', 'timeout'];
const FINE = { slotMs: 1000, keepMs: 15 * 60_000 };
const COARSE = { slotMs: 60_000, keepMs: 25 * 3600_000 };

interface Slot {
  outcomes: number[];
  latency: number[];
}

/** Slots of one width, by their start. */
class Slots {
  private readonly slots = new Map<number, Slot>();

  constructor(private readonly size: { slotMs: number; keepMs: number }) {}

  add(at: number, outcome: number, latencyBucket: number | undefined): void {
    const start = at - (at % this.size.slotMs);
    let slot = this.slots.get(start);
    if (!slot) {
      slot = { outcomes: new Array<number>(OUTCOMES.length).fill(0), latency: [] };
      this.slots.set(start, slot);
      for (const old of this.slots.keys()) {
        if (old >= at - this.size.keepMs) break; // a Map keeps insertion order: oldest first
        this.slots.delete(old);
      }
    }
    slot.outcomes[outcome]!++;
    if (latencyBucket !== undefined) slot.latency[latencyBucket] = (slot.latency[latencyBucket] ?? 0) + 1;
  }

  /** Whether a window from `since` lies within what these slots keep. */
  covers(since: number, now: number): boolean {
    return since >= now - this.size.keepMs + this.size.slotMs;
  }

  startOf(since: number): number {
    return since - (since % this.size.slotMs);
  }

  sum(since: number, into: Slot): void {
    const from = this.startOf(since);
    for (const [start, slot] of this.slots) {
      if (start < from) continue;
      for (const [i, n] of slot.outcomes.entries()) into.outcomes[i]! += n;
      for (const [i, n] of slot.latency.entries()) if (n) into.latency[i] = (into.latency[i] ?? 0) + n;
    }
  }
}

export class TrafficLog {
  private readonly groups = new Map<string, { fine: Slots; coarse: Slots }>();
  private readonly failuresInARow = new Map<string, { group?: string; count: number; last?: TrafficEvent }>();

  /** Counts one answer; answers the event a watcher must hear, if this is one. */
  record(
    instanceId: string,
    group: string | undefined,
    outcome: Outcome,
    options: { status?: number; latencyMs?: number; at?: number } = {},
  ): TrafficEvent | undefined {
    const at = options.at ?? Date.now();
    if (group !== undefined) {
      let slots = this.groups.get(group);
      if (!slots) this.groups.set(group, (slots = { fine: new Slots(FINE), coarse: new Slots(COARSE) }));
      const bucket = options.latencyMs === undefined ? undefined : bucketOf(options.latencyMs);
      slots.fine.add(at, OUTCOMES.indexOf(outcome), bucket);
      slots.coarse.add(at, OUTCOMES.indexOf(outcome), bucket);
    }
    const run = this.failuresInARow.get(instanceId) ?? { count: 0 };
    const failed = outcome === '5xx' || outcome === 'connection-error' || outcome === 'timeout';
    const ended = !failed && run.count > 0;
    run.count = failed ? run.count + 1 : 0;
    if (group !== undefined) run.group = group;
    this.failuresInARow.set(instanceId, run);
    if (!failed && !ended) {
      delete run.last;
      return undefined;
    }
    const event: TrafficEvent = {
      at: new Date(at).toISOString(),
      instanceId,
      ...(run.group ? { group: run.group } : {}),
      outcome,
      ...(options.status ? { status: options.status } : {}),
      consecutiveFailures: run.count,
    };
    if (failed) run.last = event;
    else delete run.last;
    return event;
  }

  /** The targets failing now: each one's last failure, for a watcher that just subscribed. */
  failing(): TrafficEvent[] {
    return [...this.failuresInARow.values()].flatMap((run) => (run.count > 0 && run.last ? [run.last] : []));
  }

  /** A target that left forgets its run of failures. */
  forget(instanceId: string): void {
    this.failuresInARow.delete(instanceId);
  }

  of(groups: string[], since: Date, now = Date.now()): GroupTraffic[] {
    return groups.map((group) => {
      const slots = this.groups.get(group);
      const use = slots && (slots.fine.covers(since.getTime(), now) ? slots.fine : slots.coarse);
      const total: Slot = { outcomes: new Array<number>(OUTCOMES.length).fill(0), latency: [] };
      use?.sum(since.getTime(), total);
      const [ok, redirect, client, server, connectionErrors, timeouts] = total.outcomes as [
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      const counts = Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => total.latency[i] ?? 0);
      const histogram = { boundsMs: [...LATENCY_BOUNDS_MS], counts };
      const p50Ms = percentileOf(histogram, 0.5);
      const p99Ms = percentileOf(histogram, 0.99);
      return {
        group,
        requests: total.outcomes.reduce((sum, n) => sum + n, 0),
        responses: { '2xx': ok, '3xx': redirect, '4xx': client, '5xx': server },
        connectionErrors,
        timeouts,
        ...(p50Ms !== undefined && p99Ms !== undefined ? { latency: { p50Ms, p99Ms, histogram } } : {}),
        attributed: true,
        since: new Date((use ?? new Slots(FINE)).startOf(since.getTime())).toISOString(),
      };
    });
  }
}
