/**
 * Judging a new server group by its real traffic, as its load balancer counted it, against the
 * old group's in the same window (Kayenta's and Argo Rollouts' analysis, without a metrics
 * system to set up). Errors are 5xx answers, connection errors and timeouts; 4xx are the
 * callers'. The verdict is one of three:
 *
 * - fail: the new group's error rate is higher than the old's beyond chance — a one-sided
 *   Fisher exact test at the look's share of the false-alarm rate — and by more than
 *   `maxErrorRateIncrease`; or its p99 is beyond the old's × (1 + `p99Tolerance`) + `p99MarginMs`
 *   and more of its answers are slower than that than chance explains (the same test on the
 *   counts of slow answers, where the cloud has the histogram);
 * - pass: neither;
 * - not enough traffic: either group served fewer than `minimumRequests`, there is no old group,
 *   or the cloud cannot tell the two apart — then the health checks judge alone, and it says so.
 */
import { percentileOf, slowerThan, type GroupTraffic } from '@slipway/cloud';
import type { Deployment, DeploymentParams } from '../deployments/deployment.js';
import { fisherGreater } from './statistics.js';

export type AnalysisSettings = DeploymentParams['analysis'];
export type Verdict = 'pass' | 'fail' | 'not-enough-traffic';

/** One group's traffic in the window, as the judgement read it. */
export interface GroupReading {
  group: string;
  requests: number;
  errors: number;
  p99Ms?: number;
}

export interface TrafficJudgement {
  verdict: Verdict;
  at: string;
  new: GroupReading;
  old?: GroupReading;
  /** The error-rate test: its p-value, the significance it was held to, new rate minus old. */
  errors?: { pValue: number; alpha: number; increase: number };
  /** The latency test: the p99 the new group may reach, and how many answers of each were slower. */
  latency?: { limitMs: number; newSlower?: number; oldSlower?: number; pValue?: number };
  /** Why, in one line a person reads: "new 3/1,204 errors (0.25 %), old 2/1,180 (0.17 %): …". */
  said: string;
}

export function errorsOf(traffic: GroupTraffic): number {
  return traffic.responses['5xx'] + traffic.connectionErrors + traffic.timeouts;
}

export function readingOf(traffic: GroupTraffic): GroupReading {
  return {
    group: traffic.group,
    requests: traffic.requests,
    errors: errorsOf(traffic),
    ...(traffic.latency ? { p99Ms: round(traffic.latency.p99Ms) } : {}),
  };
}

/**
 * Latency, unlike errors, comes in runs: a process stalled for a moment, a new instance warming
 * up, slows many answers at once, which a test that takes answers as independent would call a
 * regression. So a watch judges the p99 over the requests since its last look (`recent`; the
 * first look's are the new group's warm-up) and holds it against the new group only when the
 * window before was slower too (`before`). Where the cloud has no histogram (AWS) the p99 is the
 * whole window's, held against it when the last look found it slower too. Without a windows
 * object (one window alone) that window decides.
 */
export interface LatencyWindows {
  recent?: [GroupTraffic, GroupTraffic];
  before?: boolean;
}

/** The judgement of `next` against `old` at significance `alpha` (this look's share of the false-alarm rate). */
export function judge(
  next: GroupTraffic,
  old: GroupTraffic | undefined,
  settings: AnalysisSettings,
  alpha: number,
  windows?: LatencyWindows,
  at = new Date(),
): TrafficJudgement {
  const n = readingOf(next);
  const o = old && readingOf(old);
  const base = { at: at.toISOString(), new: n, ...(o ? { old: o } : {}) };
  const fallback = (why: string): TrafficJudgement => ({
    ...base,
    verdict: 'not-enough-traffic',
    said: `${counts(n, o)}: ${why}; judged by the health checks alone`,
  });
  if (!old || !o) return fallback('no old group to compare with');
  if (!next.attributed || !old.attributed)
    return fallback("the cloud cannot tell the new group's traffic from the old's (one target group)");
  const minimum = settings.minimumRequests;
  if (n.requests < minimum || o.requests < minimum)
    return fallback(`not enough traffic to judge (${minimum.toLocaleString('en-US')} requests each needed)`);

  const pValue = fisherGreater(n.errors, n.requests, o.errors, o.requests);
  const increase = n.errors / n.requests - o.errors / o.requests;
  const errors = { pValue, alpha, increase };
  const moreErrors = pValue < alpha && increase > settings.maxErrorRateIncrease;

  const [recentNext, recentOld] = windows?.recent ?? [];
  const measured =
    recentNext && recentOld ? latencyOf(recentNext, recentOld, settings, alpha) : latencyOf(next, old, settings, alpha);
  const slowerHere = measured?.slower ?? false;
  const slower = slowerHere && (!windows || windows.before === true);
  const latency: TrafficJudgement['latency'] = measured && (({ slower: _, ...shown }) => shown)(measured);
  const said = counts(n, o, latency);
  if (moreErrors)
    return {
      ...base,
      verdict: 'fail',
      errors,
      ...(latency ? { latency } : {}),
      said: `${said}: the new group fails more often (p = ${p(pValue)} < ${p(alpha)}; up ${percent(increase)}, more than the ${percent(settings.maxErrorRateIncrease)} allowed)`,
    };
  if (slower && latency)
    return {
      ...base,
      verdict: 'fail',
      errors,
      latency,
      said: `${said}: the new group is slower (p99 beyond ${ms(latency.limitMs)}${
        latency.pValue === undefined
          ? ''
          : `; ${latency.newSlower!.toLocaleString('en-US')} answers slower than that against ${latency.oldSlower!.toLocaleString('en-US')}, p = ${p(latency.pValue)} < ${p(alpha)}`
      })`,
    };
  const unconfirmed = slowerHere
    ? ` (slower than ${ms(latency!.limitMs)} at p99 in one window, not yet in two in a row: latency comes in runs)`
    : '';
  return {
    ...base,
    verdict: 'pass',
    errors,
    ...(latency ? { latency } : {}),
    said: `${said}: no evidence of a regression${unconfirmed}`,
  };
}

/**
 * The p99 against the old group's limit; where the cloud has histograms, the same test as the
 * errors' on how many answers of each were slower than the limit. `slower` when both say so.
 */
export function latencyOf(next: GroupTraffic, old: GroupTraffic, settings: AnalysisSettings, alpha: number) {
  if (!next.latency || !old.latency) return undefined;
  const limitMs = round(old.latency.p99Ms * (1 + settings.p99Tolerance) + settings.p99MarginMs);
  const beyond = next.latency.p99Ms > limitMs;
  const [hn, ho] = [next.latency.histogram, old.latency.histogram];
  if (!hn || !ho) return { limitMs, slower: beyond };
  const newSlower = slowerThan(hn, limitMs);
  const oldSlower = slowerThan(ho, limitMs);
  const total = (h: typeof hn) => h.counts.reduce((sum, c) => sum + c, 0);
  const pValue = fisherGreater(newSlower, total(hn), oldSlower, total(ho));
  return { limitMs, newSlower, oldSlower, pValue, slower: beyond && pValue < alpha };
}

/** The traffic of `now` less that of `then` (a later window of the same start): what came between. */
export function since(now: GroupTraffic, then: GroupTraffic): GroupTraffic {
  const histogram =
    now.latency?.histogram && then.latency?.histogram
      ? {
          boundsMs: now.latency.histogram.boundsMs,
          counts: now.latency.histogram.counts.map((c, i) => c - (then.latency!.histogram!.counts[i] ?? 0)),
        }
      : undefined;
  const p50Ms = histogram && percentileOf(histogram, 0.5);
  const p99Ms = histogram && percentileOf(histogram, 0.99);
  return {
    ...now,
    requests: now.requests - then.requests,
    responses: {
      '2xx': now.responses['2xx'] - then.responses['2xx'],
      '3xx': now.responses['3xx'] - then.responses['3xx'],
      '4xx': now.responses['4xx'] - then.responses['4xx'],
      '5xx': now.responses['5xx'] - then.responses['5xx'],
    },
    connectionErrors: now.connectionErrors - then.connectionErrors,
    timeouts: now.timeouts - then.timeouts,
    latency: histogram && p50Ms !== undefined && p99Ms !== undefined ? { p50Ms, p99Ms, histogram } : undefined,
  };
}

/** What the deployment's last watch judged of its traffic ("traffic: …"), unless its reason says it already. */
export function trafficSaid(d: Deployment): string | undefined {
  const records = Object.values(d.context.traffic ?? {});
  const last = records.reverse().find((r) => r.hardFailure || r.judgement);
  const said = last?.hardFailure ?? (last?.judgement && `traffic: ${last.judgement.said}`);
  return said && !d.reason?.includes(said) ? said : undefined;
}

/** "new 3/1,204 errors (0.25 %), old 2/1,180 (0.17 %)", with the p99s when known. */
function counts(n: GroupReading, o: GroupReading | undefined, latency?: TrafficJudgement['latency']): string {
  const one = (r: GroupReading, word = '') =>
    `${r.errors.toLocaleString('en-US')}/${r.requests.toLocaleString('en-US')}${word}${
      r.requests ? ` (${percent(r.errors / r.requests)})` : ''
    }`;
  let text = `new ${one(n, ' errors')}${o ? `, old ${one(o)}` : ''}`;
  if (latency && n.p99Ms !== undefined && o?.p99Ms !== undefined)
    text += `; p99 new ${ms(n.p99Ms)}, old ${ms(o.p99Ms)}`;
  return text;
}

const round = (x: number) => Math.round(x * 10) / 10;
const percent = (x: number) => `${(x * 100).toFixed(2)} %`;
const ms = (x: number) => `${x.toLocaleString('en-US')} ms`;
const p = (x: number) => String(Number(x.toPrecision(2)));
