/**
 * The pages, rendered on the server. Each live section has an id; the page's script replaces a
 * section when the server sends it again (server-sent events), so nothing reloads.
 */
import type { Cluster, Data, Deployment, Group } from './data.js';
import { Html, html } from './html.js';

const FINISHED = ['succeeded', 'failed', 'rolled-back', 'cancelled'];
const short = (commit?: string) => commit?.slice(0, 10) ?? '';
const seconds = (ms?: number) => (ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`);

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

function group(g: Group, role: string): Html {
  return html`<div class="group ${g.disabled ? 'disabled' : ''}" data-group="${g.name}">
    <div class="group-head">
      <strong>${g.name}</strong> <span class="muted">${role} · ${g.image ?? ''} · config ${short(g.commit)}</span>
    </div>
    <ul class="cells">
      ${g.instances.map((i) => healthCell(i, g))}
    </ul>
  </div>`;
}

export function clustersSection(clusters: Cluster[]): Html {
  return html`<section id="clusters">
    <h2>Clusters</h2>
    ${clusters.length === 0 ? html`<p class="muted">Nothing deployed yet.</p>` : ''}
    ${clusters.map(
      (c) =>
        html`<article class="cluster" data-cluster="${c.service}-${c.env}">
          <h3>
            <a href="/services/${c.service}">${c.service}</a> ${c.env}
            <span class="muted">${c.health.healthy ?? 0} of ${c.health.instances ?? 0} healthy</span>
            ${c.deploying ? html`<a class="badge wait" href="/deployments/${c.deploying}">deploying</a>` : ''}
          </h3>
          ${c.active ? group(c.active, 'active') : html`<p class="muted">no group in service</p>`}
          ${c.retained.map((g) => group(g, 'retained'))}
        </article>`,
    )}
  </section>`;
}

function progressOf(d: Deployment): string {
  const action = d.actions[d.current];
  return d.context.progress ?? (action ? `${action.name} (${d.current + 1} of ${d.actions.length})` : '');
}

export function activeSection(deployments: Deployment[]): Html {
  const active = deployments.filter((d) => !FINISHED.includes(d.state));
  return html`<section id="active">
    <h2>Active deployments</h2>
    ${active.length === 0 ? html`<p class="muted">None right now.</p>` : ''}
    <ul class="list">
      ${active.map(
        (d) =>
          html`<li class="deployment" data-deployment="${d.id}">
            <a href="/deployments/${d.id}"><strong>${d.service} ${d.env}</strong></a>
            <span class="badge ${d.state === 'paused' ? 'off' : 'wait'}">${d.state}</span>
            ${d.image} ${d.context.imageVersion ?? ''} · config ${short(d.context.commit)} · ${d.strategy}
            <div class="progress" data-progress>${progressOf(d)}</div>
            <div class="muted">${d.by}: “${d.message}”</div>
          </li>`,
      )}
    </ul>
  </section>`;
}

export function releasesSection(deployments: Deployment[]): Html {
  const done = deployments.filter((d) => FINISHED.includes(d.state)).slice(0, 15);
  return html`<section id="releases">
    <h2>Recent releases</h2>
    <table>
      <thead>
        <tr>
          <th>When</th>
          <th>Service</th>
          <th>Version</th>
          <th>Outcome</th>
          <th>Who, why</th>
        </tr>
      </thead>
      <tbody>
        ${done.map(
          (d) =>
            html`<tr data-deployment="${d.id}">
              <td>${(d.finishedAt ?? d.createdAt).slice(0, 16).replace('T', ' ')}</td>
              <td><a href="/services/${d.service}">${d.service}</a> ${d.env}</td>
              <td><a href="/deployments/${d.id}">${d.image}</a> ${d.context.imageVersion ?? ''}</td>
              <td><span class="badge ${d.state === 'succeeded' ? 'good' : 'bad'}">${d.state}</span></td>
              <td>${d.by}: ${d.message}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** Deployments per ISO week and per month, by outcome, for the chart. */
export function chartData(deployments: Deployment[]) {
  const outcomes = ['succeeded', 'rolled-back', 'failed'];
  const bucket = (d: Deployment, by: 'week' | 'month') => {
    const at = new Date(d.finishedAt ?? d.createdAt);
    if (by === 'month') return at.toISOString().slice(0, 7);
    const day = (at.getUTCDay() + 6) % 7;
    const monday = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() - day));
    return `week of ${monday.toISOString().slice(0, 10)}`;
  };
  const series = (by: 'week' | 'month') => {
    const labels = [...new Set(deployments.map((d) => bucket(d, by)))].sort();
    return {
      labels,
      datasets: outcomes.map((outcome) => ({
        label: outcome,
        data: labels.map(
          (l) =>
            deployments.filter(
              (d) => bucket(d, by) === l && (d.state === outcome || (outcome === 'failed' && d.state === 'cancelled')),
            ).length,
        ),
      })),
    };
  };
  return { week: series('week'), month: series('month') };
}

/** JSON inside a <script> element: entities are not decoded there, so only `<` is escaped. */
function jsonInScript(value: unknown): Html {
  return new Html(JSON.stringify(value).replace(/</g, '\\u003c'));
}

export function layout(title: string, body: Html, live: string): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Slipway</title>
        <link rel="stylesheet" href="/assets/dashboard.css" />
      </head>
      <body data-live="${live}">
        <header>
          <a href="/"><strong>Slipway</strong></a> <span class="muted">read-only</span>
        </header>
        <main>${body}</main>
        <script src="/assets/chart.umd.js"></script>
        <script src="/assets/dashboard.js"></script>
      </body>
    </html>`;
}

export async function homeSections(data: Data): Promise<Record<string, Html>> {
  const [deployments, clusters] = await Promise.all([data.deployments({ limit: 200 }), data.clusters()]);
  return {
    active: activeSection(deployments),
    clusters: clustersSection(clusters),
    releases: releasesSection(deployments),
  };
}

/** `extra`: further live sections (releases, sync sets) under the clusters. */
export async function homePage(data: Data, extra: Html[] = []): Promise<Html> {
  const sections = await homeSections(data);
  const chart = chartData(await data.deployments({ limit: 200 }));
  return layout(
    'Deployments',
    html`<div class="grid">
      <div>${sections.active}${extra}${sections.clusters}</div>
      <div>
        ${sections.releases}
        <section>
          <h2>Deployments per week and month</h2>
          <canvas id="by-week" aria-label="Deployments per week by outcome" role="img"></canvas>
          <canvas id="by-month" aria-label="Deployments per month by outcome" role="img"></canvas>
          <script type="application/json" id="chart-data">
            ${jsonInScript(chart)}
          </script>
        </section>
      </div>
    </div>`,
    '/live',
  );
}

export function actionsSection(d: Deployment): Html {
  return html`<section id="actions">
    <h2>
      ${d.service} ${d.env}:
      <span
        class="badge ${d.state === 'succeeded' ? 'good' : FINISHED.includes(d.state) ? 'bad' : 'wait'}"
        data-state="${d.state}"
        >${d.state}</span
      >
    </h2>
    ${d.reason ? html`<p class="reason">${d.reason}</p>` : ''}
    <p class="progress">${FINISHED.includes(d.state) ? '' : progressOf(d)}</p>
    <ol class="timeline">
      ${d.actions.map(
        (a) =>
          html`<li class="action ${a.state}" data-action="${a.name}" data-state="${a.state}">
            <span class="name">${a.name}</span>
            <span
              class="badge ${a.state === 'done' ? 'good' : a.state === 'failed' ? 'bad' : a.state === 'running' ? 'wait' : 'off'}"
              >${a.state}</span
            >
            <span class="muted">${seconds(a.durationMs)}${a.attempts > 1 ? ` · ${a.attempts} attempts` : ''}</span>
            ${a.output ? html`<div class="output">${a.output}</div>` : ''}
          </li>`,
      )}
    </ol>
  </section>`;
}

export async function deploymentSections(data: Data, id: string): Promise<Record<string, Html> | undefined> {
  const d = await data.deployment(id);
  if (!d) return undefined;
  const cluster = (await data.clusters()).find((c) => c.service === d.service && c.env === d.env);
  return { actions: actionsSection(d), clusters: clustersSection(cluster ? [cluster] : []) };
}

export async function deploymentPage(data: Data, id: string): Promise<Html | undefined> {
  const d = await data.deployment(id);
  const sections = await deploymentSections(data, id);
  if (!d || !sections) return undefined;
  const before = (await data.deployments({ service: d.service, env: d.env, limit: 100 })).find(
    (p) => p.state === 'succeeded' && p.createdAt < d.createdAt && p.context.commit,
  );
  let diff: Html = html`<p class="muted">No earlier deployment to compare with.</p>`;
  if (before?.context.commit && d.context.commit) {
    const changes = (await data
      .configDiff(d.service, d.env, before.context.commit, d.context.commit)
      .catch(() => undefined)) as { files?: Record<string, unknown> } | undefined;
    diff = html`<p>
        Config ${short(before.context.commit)} (<a href="/deployments/${before.id}">${before.id}</a>) →
        ${short(d.context.commit)}
      </p>
      <pre>${JSON.stringify(changes?.files ?? changes ?? {}, null, 2)}</pre>`;
  }
  return layout(
    d.id,
    html`<p class="muted">
        <a href="/services/${d.service}">${d.service}</a> · ${d.image} ${d.context.imageVersion ?? ''} · config
        ${short(d.context.commit)} · ${d.strategy} · ${d.by}: “${d.message}”
      </p>
      <div class="grid">
        <div>${sections.actions}</div>
        <div>
          ${sections.clusters}
          <section>
            <h2>Config change</h2>
            ${diff}
          </section>
        </div>
      </div>`,
    `/live?deployment=${encodeURIComponent(d.id)}`,
  );
}

export async function servicePage(data: Data, name: string): Promise<Html | undefined> {
  const service = await data.service(name);
  if (!service) return undefined;
  const [envs, deployments, images] = await Promise.all([
    data.environments(name),
    data.deployments({ service: name }),
    data.images(name),
  ]);
  return layout(
    name,
    html`<h2>${name}</h2>
      <div class="grid">
        <div>
          <section>
            <h3>Metadata</h3>
            <dl>
              ${Object.entries(service.metadata).map(
                ([k, v]) =>
                  html`<dt>${k}</dt>
                    <dd>
                      ${typeof v === 'string' && /^https?:\/\//.test(v) ? html`<a href="${v}">${v}</a>` : typeof v === 'string' ? v : JSON.stringify(v)}
                    </dd>`,
              )}
            </dl>
          </section>
          <section>
            <h3>Environments</h3>
            <p>${envs.join(', ') || 'none'}</p>
          </section>
          ${releasesSection(deployments)}
        </div>
        <div>
          <section>
            <h3>Images</h3>
            <ul>
              ${images.map((i) => html`<li>${i.id} ${i.version ?? ''} <span class="muted">${i.createdAt}</span></li>`)}
            </ul>
          </section>
        </div>
      </div>`,
    '',
  );
}
