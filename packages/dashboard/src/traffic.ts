/**
 * A deployment's real traffic as its watches judged it (the orchestrator's context.traffic):
 * for each watch (burn-in, each progressive batch), the verdict in words and both groups' error
 * rate and p99 over the window, drawn server-side as small SVG charts (no script).
 */
import type { Deployment } from './data.js';
import { Html, html } from './html.js';

type TrafficRecord = NonNullable<NonNullable<Deployment['context']['traffic']>[string]>;
type Sample = TrafficRecord['samples'][number];
type Reading = Sample['new'];

const TONE = { pass: 'good', fail: 'bad', 'not-enough-traffic': 'off' } as const;
const WORDS = { pass: 'pass', fail: 'regression', 'not-enough-traffic': 'not enough traffic' } as const;
const COLOUR = { new: '#0969da', old: '#8c959f' };
const [WIDTH, HEIGHT] = [300, 80];

export function trafficSection(d: Deployment): Html {
  const records = Object.entries(d.context.traffic ?? {});
  if (records.length === 0)
    return html`<section id="traffic">
      <h2>Traffic</h2>
      <p class="muted">No traffic judged yet: the new group is judged once it serves beside the old one.</p>
    </section>`;
  return html`<section id="traffic">
    <h2>Traffic</h2>
    <p class="muted">
      The new group (<span class="key-new">blue</span>) against the old (<span class="key-old">grey</span>), as the load
      balancer counted them since each watch began.
    </p>
    ${records.map(([name, record]) => watchOf(name, record))}
  </section>`;
}

function watchOf(name: string, record: TrafficRecord): Html {
  const j = record.judgement;
  const verdict = record.hardFailure ? 'fail' : j?.verdict;
  const said = record.hardFailure ?? j?.said ?? 'not judged yet';
  const samples = record.samples;
  const errorRate = (r?: Reading) => (r && r.requests ? (100 * r.errors) / r.requests : undefined);
  return html`<div class="watch" data-watch="${name}">
    <h3>
      ${name}
      ${verdict ? html`<span class="badge ${TONE[verdict]}" data-verdict="${verdict}">${WORDS[verdict]}</span>` : ''}
      ${j && !j.final && !record.hardFailure ? html`<span class="muted">(so far)</span>` : ''}
    </h3>
    <p class="said">${said}</p>
    ${
      samples.length > 1
        ? html`<div class="charts">
            ${chart('error rate %', samples, errorRate)} ${chart('p99 ms', samples, (r) => r?.p99Ms)}
          </div>`
        : ''
    }
  </div>`;
}

/** One small line chart: the new and the old group's value over the window, with its range. */
function chart(title: string, samples: Sample[], value: (r?: Reading) => number | undefined): Html {
  const start = Date.parse(samples[0]!.at);
  const span = Math.max(Date.parse(samples[samples.length - 1]!.at) - start, 1);
  const values = samples.flatMap((s) => [value(s.new), value(s.old)]).filter((v): v is number => v !== undefined);
  const top = Math.max(...values, 0) || 1;
  const line = (group: 'new' | 'old') =>
    samples
      .map((s) => [Date.parse(s.at), value(s[group])] as const)
      .filter((p): p is readonly [number, number] => p[1] !== undefined)
      .map(([at, v]) => `${(((at - start) / span) * WIDTH).toFixed(1)},${(HEIGHT - (v / top) * HEIGHT).toFixed(1)}`)
      .join(' ');
  const last = samples[samples.length - 1]!;
  const shown = (v?: number) => (v === undefined ? '–' : Number(v.toFixed(2)).toLocaleString('en-US'));
  return html`<figure class="traffic-chart" data-chart="${title}">
    <figcaption>
      ${title}: new ${shown(value(last.new))}, old ${shown(value(last.old))}
      <span class="muted">(0–${shown(top)} over ${Math.round(span / 1000)} s)</span>
    </figcaption>
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${title}">
      <rect width="${WIDTH}" height="${HEIGHT}" fill="#f6f8fa" />
      <polyline points="${line('old')}" fill="none" stroke="${COLOUR.old}" stroke-width="2" />
      <polyline points="${line('new')}" fill="none" stroke="${COLOUR.new}" stroke-width="2" />
    </svg>
  </figure>`;
}
