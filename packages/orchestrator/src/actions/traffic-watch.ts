/**
 * The traffic side of a watch (actions.ts `watch()`): while the new group serves beside the old,
 * it reads what their load balancer counted since the watch began and judges it (analysis.ts)
 * when both groups have served the minimum, twice it, four times it…, spending the false-alarm
 * rate across those looks, and once more at the end. A hard failure does not wait for a look:
 * the load balancer pushes each failure as it sees it (CloudProvider.watchTraffic) and a new
 * instance failing `hardFailureRequests` answers in a row wakes the watch at once.
 *
 * What it judged is kept on the deployment (context.traffic, by the watch's name) with a sample
 * of both groups' counts every few seconds, for the dashboard. It never fails a deployment for
 * its own trouble: counts that cannot be read leave the health checks to judge, and it says so.
 */
import type { GroupTraffic, TrafficEvent, TrafficSubscription } from '@slipway/cloud';
import { HealthFailure, nap, need, saveWaitEnd, type ActionContext } from './action.js';
import { judge, latencyOf, readingOf, since, type GroupReading, type TrafficJudgement } from './analysis.js';
import { alphaToSpend, milestonesReached } from './statistics.js';

export interface TrafficSample {
  at: string;
  new: GroupReading;
  old?: GroupReading;
}

export interface TrafficRecord {
  /** The window's start (ISO): when the watch began. */
  since: string;
  /** How many of the looks' milestones were spent, so a watch run again spends no α twice. */
  milestones: number;
  /** The latest judgement; `final` once the watch ended. */
  judgement?: TrafficJudgement & { final?: boolean };
  /** Why the load balancer's own events ended the watch at once. */
  hardFailure?: string;
  samples: TrafficSample[];
}

/** At most this many samples a watch: one every window/60 s, and at least a second apart. */
const SAMPLES = 60;

export class TrafficWatch {
  private hard: string | undefined;
  private readonly latest = new Map<string, TrafficEvent>();
  private subscription: TrafficSubscription | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly failed: Promise<never>;
  /** Both groups' traffic at the last look, and whether it found the new group slower. */
  private last: { next: GroupTraffic; old: GroupTraffic; slower: boolean } | undefined;
  private fail: (failure: HealthFailure) => void = () => undefined;

  private constructor(
    private readonly ctx: ActionContext,
    private readonly name: string,
    private readonly record: TrafficRecord,
    private readonly windowMs: number,
  ) {
    this.failed = new Promise<never>((_resolve, reject) => (this.fail = reject));
    this.failed.catch(() => undefined); // raced, or never asked for
  }

  /**
   * `work`, unless a hard failure is heard first: then a HealthFailure at once, without waiting
   * for the probes and reads in flight (they finish unheeded).
   */
  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.failed]);
  }

  /** Starts watching the traffic of the window that began at `since` (epoch ms) and lasts `seconds`. */
  static start(ctx: ActionContext, name: string, since: number, seconds: number): TrafficWatch {
    const records = (ctx.deployment.context.traffic ??= {});
    const record = (records[name] ??= { since: new Date(since).toISOString(), milestones: 0, samples: [] });
    const watch = new TrafficWatch(ctx, name, record, seconds * 1000);
    if (watch.settings?.enabled) watch.subscribe();
    return watch;
  }

  /**
   * Listens for a hard failure only, and keeps no record unless it hears one: for the waits
   * while the new group already takes traffic (its targets turning healthy one by one).
   */
  static hardFailures(ctx: ActionContext, name: string): TrafficWatch {
    const watch = new TrafficWatch(ctx, name, { since: new Date().toISOString(), milestones: 0, samples: [] }, 0);
    if (watch.settings?.enabled) watch.subscribe();
    return watch;
  }

  /** The load balancer's hard failure, once heard: the watch fails with it. */
  hardFailure(): string | undefined {
    return this.hard;
  }

  /** Reads the counts; judges when a milestone was reached. Answers why it fails, if it does. */
  async look(): Promise<string | undefined> {
    const read = await this.race(this.read());
    if (!read) return undefined;
    const [next, old] = read;
    const reached = milestonesReached(Math.min(next.requests, old?.requests ?? 0), this.settings!.minimumRequests);
    if (!old || reached <= this.record.milestones) return undefined;
    const alpha = alphaToSpend(this.settings!.falseAlarmRate, this.record.milestones, reached, false);
    this.record.milestones = reached;
    const judgement = (this.record.judgement = this.judge(next, old, alpha));
    if (judgement.verdict === 'fail') return `traffic: ${judgement.said}`;
    await this.ctx.progress(`traffic: ${judgement.said}`);
    return undefined;
  }

  /** The last look, with whatever α is left: a failure, or what to say of the traffic. */
  async conclude(): Promise<{ failure?: string; said?: string }> {
    if (!this.settings?.enabled) return {};
    const read = await this.read().catch(() => undefined);
    if (!read)
      return { said: `traffic: the load balancer's counts could not be read; judged by the health checks alone` };
    const [next, old] = read;
    const alpha = alphaToSpend(this.settings.falseAlarmRate, this.record.milestones, this.record.milestones, true);
    const judgement = old ? this.judge(next, old, alpha) : judge(next, old, this.settings, alpha);
    this.record.judgement = { ...judgement, final: true };
    return judgement.verdict === 'fail'
      ? { failure: `traffic: ${judgement.said}` }
      : { said: `traffic: ${judgement.said}` };
  }

  /** Waits `ms` as the action's deps wait (nap), or less when a hard failure is heard. */
  async sleep(ms: number): Promise<void> {
    if (this.hard) return;
    // A wait's end not saved yet is saved before it waits (waitEnd).
    await saveWaitEnd(this.ctx);
    if (this.hard) return;
    // A drill's own clock (the explorer schedules each wait): woken by a hard failure all the same.
    if (this.ctx.deps.sleep)
      return Promise.race([nap(this.ctx, ms), new Promise<void>((resolve) => (this.wake = resolve))]);
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** Stops following the load balancer (`using` calls it however the watch ends). */
  [Symbol.dispose](): void {
    this.closed = true;
    this.subscription?.close();
  }

  /** judge() with the p99 judged window by window, two in a row (analysis.ts, LatencyWindows). */
  private judge(next: GroupTraffic, old: GroupTraffic, alpha: number): TrafficJudgement {
    const last = this.last;
    const histograms = !!next.latency?.histogram && !!old.latency?.histogram;
    const between = last && histograms ? [since(next, last.next), since(old, last.old)] : undefined;
    // Too few requests since the last look to say anything of them: no window this time.
    const minimum = this.settings!.minimumRequests;
    const recent = between?.every((t) => t.requests >= minimum) ? (between as [GroupTraffic, GroupTraffic]) : undefined;
    const judgement = judge(next, old, this.settings!, alpha, {
      ...(recent ? { recent } : {}),
      // With histograms but no window this time, the p99 is not judged (the whole includes the warm-up).
      ...(last ? { before: histograms && !recent ? false : last.slower } : {}),
    });
    // The first look's window is the warm-up where there are windows; else the whole one counts.
    const judged = recent ?? (histograms ? undefined : ([next, old] as const));
    const slower = judged ? (latencyOf(judged[0], judged[1], this.settings!, alpha)?.slower ?? false) : false;
    if (!last || recent || !histograms) this.last = { next, old, slower };
    return judgement;
  }

  private get settings() {
    // A deployment made before the analysis existed has none in its parameters: nothing to judge.
    return need(this.ctx, 'params').analysis;
  }

  private async read(): Promise<[GroupTraffic, GroupTraffic | undefined] | undefined> {
    if (!this.settings?.enabled) return undefined;
    const { group, previous, targetGroup } = this.ctx.deployment.context;
    const groups = previous ? [group!, previous] : [group!];
    let traffic: GroupTraffic[];
    try {
      traffic = await this.ctx.deps.cloud.trafficOf(targetGroup!, groups, new Date(this.record.since));
    } catch (error) {
      this.ctx.deps.logger.warn({ deployment: this.ctx.deployment.id, err: error }, 'cannot read the traffic');
      return undefined;
    }
    const [next, old] = traffic;
    if (!next) return undefined;
    this.sample(next, old);
    return [next, old];
  }

  private sample(next: GroupTraffic, old: GroupTraffic | undefined): void {
    const last = this.record.samples[this.record.samples.length - 1];
    const every = Math.max(1000, this.windowMs / SAMPLES);
    if (last && Date.now() - Date.parse(last.at) < every) return;
    this.record.samples.push({
      at: new Date().toISOString(),
      new: readingOf(next),
      ...(old ? { old: readingOf(old) } : {}),
    });
  }

  private subscribe(): void {
    const { cloud } = this.ctx.deps;
    if (!cloud.watchTraffic || this.closed) return;
    try {
      this.subscription = cloud.watchTraffic(
        need(this.ctx, 'targetGroup'),
        (event) => this.heard(event),
        () => setTimeout(() => this.subscribe(), 500).unref(),
      );
    } catch (error) {
      this.ctx.deps.logger.warn({ deployment: this.ctx.deployment.id, err: error }, 'cannot follow the traffic');
    }
  }

  private heard(event: TrafficEvent): void {
    this.latest.set(event.instanceId, event);
    const { group, previous } = this.ctx.deployment.context;
    const limit = this.settings!.hardFailureRequests;
    if (this.hard || event.group !== group || event.consecutiveFailures < limit) return;
    // The old group failing the same way at the same moment: something they share is broken.
    const now = Date.now();
    const oldFailing = [...this.latest.values()].some(
      (e) => e.group === previous && e.consecutiveFailures >= limit && now - Date.parse(e.at) < 5000,
    );
    if (oldFailing) return;
    const last = event.status ? `${event.status}` : event.outcome;
    this.hard = `traffic: the load balancer saw ${event.instanceId} of ${group} fail ${event.consecutiveFailures} requests in a row (the last ${last}): a hard failure`;
    this.record.hardFailure = this.hard;
    (this.ctx.deployment.context.traffic ??= {})[this.name] ??= this.record;
    this.ctx.deployment.context.failureDetectedAt = now;
    this.ctx.deps.logger.warn({ deployment: this.ctx.deployment.id, failure: this.hard }, 'hard failure: rolling back');
    this.fail(new HealthFailure(this.hard));
    this.wake?.();
  }
}
