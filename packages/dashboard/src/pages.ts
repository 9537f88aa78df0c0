/**
 * The pages, rendered on the server. Each live section has an id; the page's script replaces a
 * section when the server sends it again (server-sent events), so nothing reloads.
 */
import type { Cluster, Data, Deployment } from './data.js';
import { commitsSection, recentCommitsAcross, sourceChangeSection } from './commits.js';
import { Html, html } from './html.js';
import { trafficSection } from './traffic.js';
import { layout } from './layout.js';
import { HOME_SHOWN, PAGE_SIZE, pageRead, pager } from './paging.js';
import {
  actionsSection,
  activeSection,
  chartData,
  clustersPageSection,
  clustersSection,
  configDiff,
  deploymentsTable,
  homeClustersSection,
  OUTCOMES,
  releasesSection,
  short,
} from './sections.js';

export { actionsSection, activeSection, chartData, clustersSection, releasesSection } from './sections.js';
export { layout } from './layout.js';

/** JSON inside a <script> element: entities are not decoded there, so only `<` is escaped. */
function jsonInScript(value: unknown): Html {
  return new Html(JSON.stringify(value).replace(/</g, '\\u003c'));
}

/** What the home page's live sections show: read once for the page, and again for each refresh. */
const homeData = (data: Data) =>
  Promise.all([data.deployments({ limit: 200 }), data.clusterList({ order: 'attention', limit: HOME_SHOWN })]);

function sectionsOf([deployments, clusters]: Awaited<ReturnType<typeof homeData>>): Record<string, Html> {
  return {
    active: activeSection(deployments),
    clusters: homeClustersSection(clusters),
    releases: releasesSection(deployments),
  };
}

export async function homeSections(data: Data): Promise<Record<string, Html>> {
  return sectionsOf(await homeData(data));
}

/** `extra`: further live sections (releases, sync sets) under the clusters. */
export async function homePage(data: Data, further: Html[] | Promise<Html[]> = []): Promise<Html> {
  const [read, commits, extra] = await Promise.all([homeData(data), recentCommitsAcross(data), further]);
  const sections = sectionsOf(read);
  const chart = chartData(read[0]);
  return layout(
    'Overview',
    html`<div class="grid">
      <div>${sections.active}${extra}${sections.clusters}</div>
      <div>
        ${sections.releases}
        <section class="charts">
          <figure>
            <figcaption><h2>Deployments per week</h2></figcaption>
            <canvas id="by-week" aria-label="Deployments per week by outcome" role="img"></canvas>
          </figure>
          <figure>
            <figcaption><h2>Deployments per month</h2></figcaption>
            <canvas id="by-month" aria-label="Deployments per month by outcome" role="img"></canvas>
          </figure>
          <script type="application/json" id="chart-data">
            ${jsonInScript(chart)}
          </script>
        </section>
        ${commits}
      </div>
    </div>`,
    '/live',
  );
}

export async function deploymentSections(data: Data, id: string): Promise<Record<string, Html> | undefined> {
  const d = await data.deployment(id);
  if (!d) return undefined;
  const cluster = (await data.clusters(d.service)).find((c) => c.env === d.env);
  return {
    actions: actionsSection(d),
    clusters: clustersSection(cluster ? [cluster] : []),
    traffic: trafficSection(d),
  };
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
    const changes = await data
      .configDiff(d.service, d.env, before.context.commit, d.context.commit)
      .catch(() => undefined);
    diff = html`<p>
        Config ${short(before.context.commit)} (<a href="/deployments/${before.id}">${before.id}</a>) →
        ${short(d.context.commit)}
      </p>
      ${configDiff(changes)}`;
  }
  const sources = await sourceChangeSection(data, d, before).catch(() => html``);
  return layout(
    d.id,
    html`<p class="muted">
        <a href="/services/${d.service}">${d.service}</a> · ${d.context.imageVersion ?? ''} ${d.image}
        ${
          d.context.sourceCommit
            ? html`· source <code title="${d.context.sourceRepository ?? ''}">${short(d.context.sourceCommit)}</code>`
            : ''
        }
        · config ${short(d.context.commit)} · ${d.strategy} · ${d.by}${d.via ? ` (via ${d.via})` : ''}:
        “${d.message}”${
          d.undoOf
            ? html` · ${d.revertsCommit ? `revert of ${d.revertsCommit.slice(0, 12)}, back from` : 'undo of'}
                <a href="/deployments/${d.undoOf}">${d.undoOf}</a>`
            : ''
        }
      </p>
      <div class="grid">
        <div>${sections.actions} ${sections.traffic}</div>
        <div>
          ${sections.clusters} ${sources}
          <section id="config-change">
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
  const [envs, deployments, images, clusters, commits] = await Promise.all([
    data.environments(name),
    data.deployments({ service: name }),
    data.images(name),
    data.clusters(name),
    data.commits(name, 20),
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
          ${clustersSection(clusters)} ${releasesSection(deployments)}
        </div>
        <div>
          <section>
            <h3>Images</h3>
            <ul class="images">
              ${images.map(
                (i) =>
                  html`<li>
                    <span class="nowrap">${i.version ?? ''} ${i.id}</span>
                    <span class="muted nowrap">${i.createdAt.slice(0, 16).replace('T', ' ')}</span>
                  </li>`,
              )}
            </ul>
          </section>
          ${commitsSection(commits)}
        </div>
      </div>`,
    '',
  );
}

/**
 * Every cluster (or those needing attention, `?attention=1`), a page at a time (`?page=`): the
 * orchestrator is asked for that page alone (only it is described), with the counts of all.
 */
export async function clustersPage(data: Data, query: Record<string, unknown>): Promise<Html> {
  const attention = query.attention === '1';
  const { answer, page, pages } = await pageRead(
    query.page,
    (n) =>
      data.clusterList({ offset: (n - 1) * PAGE_SIZE, limit: PAGE_SIZE, ...(attention ? { attention: true } : {}) }),
    (list) => (attention ? list.needingAttention : list.total),
  );
  return layout('Clusters', clustersPageSection(answer, { page, pages, attention }), '');
}

/** Every service with its owner and what runs where, a page at a time (`?page=`): the clusters of that page's services alone. */
export async function servicesPage(data: Data, query: Record<string, unknown>): Promise<Html> {
  const {
    answer: { items: services, total },
    page,
    pages,
  } = await pageRead(
    query.page,
    (n) => data.servicePage(n, PAGE_SIZE),
    (list) => list.total,
  );
  const clusters = services.length ? (await data.clusterList({ service: services.map((s) => s.name) })).items : [];
  // Grouped once: a filter of every cluster for each service grows with their product.
  const byService = new Map<string, Cluster[]>();
  for (const c of clusters) byService.set(c.service, [...(byService.get(c.service) ?? []), c]);
  const where = (name: string) => byService.get(name) ?? [];
  return layout(
    'Services',
    html`<section id="services">
        <h2>Services</h2>
        ${total === 0 ? html`<p class="muted">No services registered yet.</p>` : ''}
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Service</th>
                <th>Owner</th>
                <th>Runs</th>
              </tr>
            </thead>
            <tbody>
              ${services.map(
                (s) =>
                  html`<tr data-service="${s.name}">
                    <td class="nowrap">
                      <a href="/services/${s.name}"><strong>${s.name}</strong></a>
                    </td>
                    <td>${String(s.metadata.owner ?? '')}</td>
                    <td>
                      ${
                        where(s.name).length === 0
                          ? html`<span class="muted">nowhere yet</span>`
                          : where(s.name).map(
                              (c) =>
                                html`<span class="where nowrap" data-where="${c.env}"
                                  >${c.env}: ${c.active?.image ?? 'no group in service'}
                                  <span class="muted"
                                    >${c.health.healthy ?? 0}/${c.health.instances ?? 0} healthy</span
                                  ></span
                                > `,
                            )
                      }
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>
      </section>
      ${pager('/services', page, pages, false)}`,
    '',
  );
}

export interface DeploymentFilter {
  service?: string;
  env?: string;
  outcome?: Deployment['state'];
}

const NAME = /^[a-z0-9]{1,32}$/;
const STATES: Deployment['state'][] = ['queued', 'running', 'paused', ...OUTCOMES];

/** The filter as given, keeping only values that can match (a bad one is no filter). */
export function deploymentFilter(query: Record<string, unknown>): DeploymentFilter {
  const pick = (key: string, ok: (v: string) => boolean) =>
    typeof query[key] === 'string' && query[key] !== '' && ok(query[key]) ? { [key]: query[key] } : {};
  const outcome = STATES.find((s) => s === query.outcome);
  return {
    ...pick('service', (v) => NAME.test(v)),
    ...pick('env', (v) => NAME.test(v)),
    ...(outcome ? { outcome } : {}),
  };
}

export async function deploymentsPage(data: Data, filter: DeploymentFilter): Promise<Html> {
  // The environments' names from the orchestrator's list of clusters: none described for them.
  const [deployments, services, envs]: [Deployment[], { name: string }[], string[]] = await Promise.all([
    data.deployments({
      limit: 100,
      ...(filter.service ? { service: filter.service } : {}),
      ...(filter.env ? { env: filter.env } : {}),
      ...(filter.outcome ? { state: filter.outcome } : {}),
    }),
    data.services(),
    data.deployedEnvs(),
  ]);
  const select = (name: string, label: string, values: string[], chosen?: string) =>
    html`<label
      >${label}
      <select name="${name}">
        <option value="">any</option>
        ${values.map((v) => html`<option value="${v}" ${v === chosen ? 'selected' : ''}>${v}</option>`)}
      </select></label
    >`;
  return layout(
    'Deployments',
    html`<form class="filters" method="get" action="/deployments">
        ${select(
          'service',
          'Service',
          services.map((s) => s.name),
          filter.service,
        )}
        ${select('env', 'Environment', envs, filter.env)} ${select('outcome', 'Outcome', STATES, filter.outcome)}
        <button type="submit">Filter</button>
      </form>
      ${deploymentsTable(deployments, 'deployments', 'Deployments')}`,
    '',
  );
}
