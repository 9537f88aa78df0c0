/**
 * The parts of pages that update live (each with an id the page's script swaps in) and the
 * pieces they share: groups and their instances, the action timeline, releases, the chart.
 */
import type { ConfigComponents } from '@slipway/config-api';
import { isFinishedState } from '@slipway/orchestrator-api';
import type { Cluster, ClusterList, Deployment, Group } from './data.js';
import { Html, html } from './html.js';
import { homeSummary, pager } from './paging.js';

export const short = (commit?: string) => commit?.slice(0, 10) ?? '';
export const seconds = (ms?: number) => (ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`);
export const when = (at?: string) => (at ? at.slice(0, 19).replace('T', ' ') : '');

export function took(from?: string, to?: string): string {
  if (!from || !to) return '';
  const s = Math.round((Date.parse(to) - Date.parse(from)) / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export const outcomeTone = (state: string) =>
  state === 'succeeded' ? 'good' : state === 'cancelled' ? 'off' : isFinishedState(state) ? 'bad' : 'wait';

/** Health is said in words too, never by colour alone. */
function healthCell(instance: Group['instances'][number], group: Group): Html {
  const state =
    instance.lifecycle === 'pending'
      ? 'starting'
      : group.disabled
        ? 'out of service'
        : instance.health === 'healthy'
          ? 'healthy'
          : instance.health === 'draining'
            ? 'draining'
            : instance.health === 'unhealthy'
              ? 'unhealthy'
              : 'starting';
  const tone = { healthy: 'good', starting: 'wait', draining: 'wait', unhealthy: 'bad', 'out of service': 'off' }[
    state
  ];
  return html`<li class="cell ${tone}" data-health="${state}" title="${instance.id} ${instance.address ?? ''}">
    <span class="id">${instance.id}</span><span class="state">${state}</span>
  </li>`;
}

/**
 * An old group still taking traffic (during burn-in) is in service, not merely retained; a retained
 * group that never served successfully (rolled back, cancelled, failed) is marked as such — it goes
 * first and is never gone back to — and one scaled to zero says so.
 */
function group(g: Group, active: boolean): Html {
  const role = active ? 'active, in service' : g.disabled ? 'retained, out of service' : 'old group, in service';
  const unproven = !active && g.disabled && g.vetted === false;
  const marks = [
    ...(unproven
      ? [`never served successfully${g.outcome && g.outcome !== 'succeeded' ? ` (${g.outcome})` : ''}`]
      : []),
    ...(g.scaledDown ? ['scaled to zero'] : []),
  ];
  return html`<div
    class="group ${g.disabled ? 'disabled' : ''}"
    data-group="${g.name}"
    data-role="${role}"
    data-served="${unproven ? 'never' : 'yes'}"
  >
    <div class="group-head">
      <strong>${g.name}</strong> <span class="muted">${role} · ${g.image ?? ''} · config ${short(g.commit)}</span>
      ${marks.length ? html`<span class="badge ${unproven ? 'bad' : 'off'}">${marks.join(', ')}</span>` : ''}
    </div>
    ${
      g.instances.length === 0
        ? html`<p class="muted">no instances</p>`
        : html`<ul class="cells">
            ${g.instances.map((i) => healthCell(i, g))}
          </ul>`
    }
  </div>`;
}

export function clustersSection(clusters: Cluster[], summary: Html = html``): Html {
  return html`<section id="clusters">
    <h2>Clusters</h2>
    ${summary} ${clusters.length === 0 && summary.text === '' ? html`<p class="muted">Nothing deployed yet.</p>` : ''}
    ${clusters.map(clusterArticle)}
  </section>`;
}

function clusterArticle(c: Cluster): Html {
  return html`<article class="cluster" data-cluster="${c.service}-${c.env}">
    <h3>
      <a href="/services/${c.service}">${c.service}</a> ${c.env}
      <span class="muted">${c.health.healthy ?? 0} of ${c.health.instances ?? 0} healthy</span>
      ${c.deploying ? html`<a class="badge wait" href="/deployments/${c.deploying}">deploying</a>` : ''}
    </h3>
    ${c.active ? group(c.active, true) : html`<p class="muted">no group in service</p>`}
    ${c.retained.map((g) => group(g, false))}
  </article>`;
}

/** As the orchestrator says (one definition for every view): deploying, nothing or not all healthy in service, its last deployment not a success. */
export const clusterNeedsAttention = (c: Cluster): boolean => c.needsAttention === true;

/** The home page's clusters: those needing attention first, a screenful (as asked of the orchestrator), the rest behind /clusters. */
export function homeClustersSection({ items, total, needingAttention }: ClusterList): Html {
  return clustersSection(
    items,
    homeSummary('clusters', { total, attention: needingAttention, shown: items.length }, '/clusters'),
  );
}

/** A page of every cluster (or of those needing attention), as the orchestrator answered it, with the counts of all. */
export function clustersPageSection(
  { items, total, needingAttention }: ClusterList,
  { page, pages, attention }: { page: number; pages: number; attention: boolean },
): Html {
  return html`${clustersSection(
    items,
    html`<p class="muted">
      ${total} clusters, ${needingAttention} needing attention${attention ? ': those needing attention' : ''}
    </p>`,
  )}
  ${pager('/clusters', page, pages, attention)}`;
}

export function progressOf(d: Deployment): string {
  const action = d.actions[d.current];
  return d.context.progress ?? (action ? `${action.name} (${d.current + 1} of ${d.actions.length})` : '');
}

export function activeSection(deployments: Deployment[]): Html {
  const active = deployments.filter((d) => !isFinishedState(d.state));
  return html`<section id="active">
    <h2>Active deployments</h2>
    ${active.length === 0 ? html`<p class="muted">None right now.</p>` : ''}
    <ul class="list">
      ${active.map(
        (d) =>
          html`<li class="deployment" data-deployment="${d.id}">
            <a href="/deployments/${d.id}"><strong>${d.service} ${d.env}</strong></a>
            <span class="badge ${d.state === 'paused' ? 'off' : 'wait'}">${d.state}</span>
            ${d.context.imageVersion ?? ''} ${d.image} · config ${short(d.context.commit)} · ${d.strategy}
            <div class="progress" data-progress>${progressOf(d)}</div>
            <div class="muted">${d.by}: “${d.message}”</div>
          </li>`,
      )}
    </ul>
  </section>`;
}

/** What a deployment that went back was: a revert of a commit, or an undo. */
export const goingBack = (d: Deployment) => (d.revertsCommit ? 'revert' : d.undoOf ? 'undo' : undefined);

/**
 * Deployments as a table, the version first. Each cell stacks what it says (version over image,
 * date over time) and who and why go on a line of their own under each row, so the card fits its
 * column at 1400 px without clipping one, whatever the message.
 */
export function deploymentsTable(deployments: Deployment[], id = 'releases', title = 'Recent releases'): Html {
  return html`<section id="${id}">
    <h2>${title}</h2>
    ${deployments.length === 0 ? html`<p class="muted">No deployments.</p>` : ''}
    <div class="scroll">
      <table class="deployments">
        <thead>
          <tr>
            <th>Version</th>
            <th>Service</th>
            <th>Outcome</th>
            <th>Finished</th>
            <th>Took</th>
          </tr>
        </thead>
        <tbody>
          ${deployments.map((d) => {
            const back = goingBack(d);
            const finished = when(d.finishedAt ?? d.createdAt);
            return html`<tr data-deployment="${d.id}">
                <td>
                  <a href="/deployments/${d.id}"><strong>${d.context.imageVersion ?? d.image}</strong></a>
                  <span class="muted image-id">${d.image}</span>
                </td>
                <td><a href="/services/${d.service}">${d.service}</a> <span class="nowrap">${d.env}</span></td>
                <td>
                  <span class="badge ${outcomeTone(d.state)}">${d.state}</span>${
                    back ? html` <span class="badge off" data-back="${back}">${back}</span>` : ''
                  }
                </td>
                <td>
                  <span class="nowrap">${finished.slice(0, 10)}</span>
                  <span class="nowrap">${finished.slice(11, 16)}</span>
                </td>
                <td class="nowrap">${took(d.startedAt ?? d.createdAt, d.finishedAt)}</td>
              </tr>
              <tr class="why" data-why="${d.id}">
                <td colspan="5" class="muted">${d.by}: ${d.message}</td>
              </tr>`;
          })}
        </tbody>
      </table>
    </div>
  </section>`;
}

export function releasesSection(deployments: Deployment[]): Html {
  return deploymentsTable(deployments.filter((d) => isFinishedState(d.state)).slice(0, 15));
}

export const OUTCOMES = ['succeeded', 'rolled-back', 'failed', 'cancelled'] as const;

/** Deployments per ISO week and per month, by outcome (cancelled apart from failed), for the charts. */
export function chartData(deployments: Deployment[]) {
  const finished = deployments.filter((d) => isFinishedState(d.state));
  const bucket = (d: Deployment, by: 'week' | 'month') => {
    const at = new Date(d.finishedAt ?? d.createdAt);
    if (by === 'month') return at.toISOString().slice(0, 7);
    const day = (at.getUTCDay() + 6) % 7;
    const monday = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() - day));
    return monday.toISOString().slice(0, 10);
  };
  const series = (by: 'week' | 'month') => {
    const labels = [...new Set(finished.map((d) => bucket(d, by)))].sort();
    return {
      labels,
      datasets: OUTCOMES.map((outcome) => ({
        label: outcome,
        data: labels.map((l) => finished.filter((d) => bucket(d, by) === l && d.state === outcome).length),
      })),
    };
  };
  return { week: series('week'), month: series('month') };
}

/** What a person reads in the timeline: a finished deployment's never-run actions were skipped. */
export function shownState(d: Deployment, state: string): string {
  return isFinishedState(d.state) && state === 'pending' ? 'skipped' : state;
}

const actionTone = (state: string) =>
  state === 'done' ? 'good' : state === 'failed' ? 'bad' : state === 'running' ? 'wait' : 'off';

function actionItem(name: string, state: string, detail: Html | string, output?: string): Html {
  return html`<li class="action ${state}" data-action="${name}" data-state="${state}">
    <span class="name">${name}</span>
    <span class="badge ${actionTone(state)}">${state}</span>
    <span class="muted">${detail}</span>
    ${output ? html`<div class="output">${output}</div>` : ''}
  </li>`;
}

/**
 * The rollback as a step of its own, where the record carries none: what it did is in the
 * progress the rollback left ("rolled back in 40 ms: …") or the reason.
 */
function rollbackStep(d: Deployment): Html | undefined {
  if (d.state !== 'rolled-back' && d.state !== 'cancelled') return undefined;
  if (d.actions.some((a) => /rollback|roll-back|restore|cancel/.test(a.name))) return undefined;
  const said = d.context.progress && /roll|restor|cancel/i.test(d.context.progress) ? d.context.progress : d.reason;
  return actionItem(d.state === 'cancelled' ? 'cancel' : 'rollback', 'done', '', said);
}

export function timesOf(d: Deployment): Html {
  const start = d.startedAt ?? d.createdAt;
  return html`<p class="times" data-times>
    started <span class="nowrap">${when(start)}</span>${
      d.finishedAt
        ? html` · ended <span class="nowrap">${when(d.finishedAt)}</span> · took
            <strong>${took(start, d.finishedAt)}</strong>`
        : html` · running for ${took(start, new Date().toISOString())}`
    }
  </p>`;
}

export function actionsSection(d: Deployment): Html {
  const ran = d.actions.filter((a) => shownState(d, a.state) !== 'skipped');
  const skipped = d.actions.filter((a) => shownState(d, a.state) === 'skipped');
  const step = (a: Deployment['actions'][number]) =>
    actionItem(
      a.name,
      shownState(d, a.state),
      `${seconds(a.durationMs)}${a.attempts > 1 ? ` · ${a.attempts} attempts` : ''}`,
      a.output,
    );
  return html`<section id="actions">
    <h2>
      ${d.service} ${d.env}:
      <span class="badge ${outcomeTone(d.state)}" data-state="${d.state}">${d.state}</span>
    </h2>
    ${timesOf(d)} ${d.reason ? html`<p class="reason">${d.reason}</p>` : ''}
    <p class="progress">${isFinishedState(d.state) ? '' : progressOf(d)}</p>
    <ol class="timeline">
      ${ran.map(step)} ${rollbackStep(d)} ${skipped.map(step)}
    </ol>
  </section>`;
}

/** What the page shows of config's diff (its tests give no more). */
export type ConfigDiff = Pick<ConfigComponents['schemas']['ConfigDiff'], 'files'>;

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** `+ key=value`, `- key`, `~ key: old → new` per file; "no change" when there is none. */
export function configDiff(diff: ConfigDiff | undefined): Html {
  if (!diff?.files) return html`<p class="muted">The change could not be read.</p>`;
  const files: [string, string[]][] = [];
  for (const [key, file] of [
    ['applicationProperties', 'application-properties.json'],
    ['deploymentParams', 'deployment-params.json'],
  ] as const) {
    const change = diff.files[key] ?? {};
    const lines = [
      ...Object.entries(change.added ?? {}).map(([k, v]) => `+ ${k}=${text(v)}`),
      ...Object.keys(change.removed ?? {}).map((k) => `- ${k}`),
      ...Object.entries(change.changed ?? {}).map(([k, v]) => `~ ${k}: ${text(v.old)} → ${text(v.new)}`),
      ...(change.error ? [`! ${change.error}`] : []),
    ];
    if (lines.length) files.push([file, lines]);
  }
  const launch = diff.files.launchData ?? {};
  const launchLines = [...(launch.added ?? []).map((l) => `+ ${l}`), ...(launch.removed ?? []).map((l) => `- ${l}`)];
  if (launchLines.length) files.push(['launch-data.json', launchLines]);
  if (files.length === 0) return html`<p data-diff="none">No change.</p>`;
  return html`<div data-diff>
    ${files.map(
      ([file, lines]) =>
        html`<h3>${file}</h3>
          <pre class="diff">
${lines.map((l) => html`<span class="${{ '+': 'add', '-': 'del', '~': 'mod' }[l[0]!] ?? ''}">${l}</span> `)}</pre>`,
    )}
  </div>`;
}
