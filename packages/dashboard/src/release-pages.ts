/**
 * Releases and sync sets on the dashboard: each release as its waves side by side (a small
 * graph: wave → wave, each cluster a cell saying its state in words), live; and the clusters of
 * each sync set grouped, the odd one out marked.
 */
import { createServiceClient, InputError, NotFoundError, unwrap } from '@slipway/core';
import { isUnsuccessfulState, type OrchestratorComponents, type OrchestratorPaths } from '@slipway/orchestrator-api';
import { Html, html } from './html.js';
import { layout } from './layout.js';
import { attentionFirst, HOME_SHOWN, homeSummary, pageOf, pager } from './paging.js';

export type ReleaseView = OrchestratorComponents['schemas']['Release'];
export type SyncView = OrchestratorComponents['schemas']['SyncSet'];

export function createReleaseData(orchestratorUrl: string, token: string) {
  const orchestrator = createServiceClient<OrchestratorPaths>({ baseUrl: orchestratorUrl, token });
  return {
    async releases(): Promise<ReleaseView[]> {
      return unwrap(await orchestrator.GET('/releases', { params: { query: { limit: 10 } } })).items;
    },
    async release(id: string): Promise<ReleaseView | undefined> {
      try {
        return unwrap(await orchestrator.GET('/releases/{id}', { params: { path: { id } } }));
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof InputError) return undefined;
        throw error;
      }
    },
    async sync(): Promise<SyncView[]> {
      return unwrap(await orchestrator.GET('/sync')).items;
    },
  };
}

export type ReleaseData = ReturnType<typeof createReleaseData>;

const tone = (state: string) =>
  state === 'succeeded'
    ? 'good'
    : isUnsuccessfulState(state)
      ? 'bad'
      : ['pending', 'not-started', 'paused', 'waiting', 'skipped'].includes(state)
        ? 'off'
        : 'wait';

/** A waiting promotion says when it starts: the time, and how long from now. */
function startsAt(notBefore: string, now = Date.now()): Html {
  const minutes = Math.max(0, Math.round((Date.parse(notBefore) - now) / 60_000));
  const within = minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return html`<p class="muted" data-starts="${notBefore}">
    starts at <span class="nowrap">${notBefore.slice(0, 16).replace('T', ' ')}</span> UTC (in ${within})
  </p>`;
}

export function releaseGraph(r: ReleaseView): Html {
  return html`<article class="release" data-release="${r.id}">
    <h3>
      <a href="/releases/${r.id}">${r.id}</a>
      <span class="badge ${tone(r.state)}" data-state="${r.state}">${r.state}</span>
      <span class="muted"
        >${r.items.map((i) => `${i.service} ${i.version ?? i.image}`).join(', ')} · ${r.by}: “${r.message}”</span
      >
    </h3>
    ${r.state === 'waiting' && r.notBefore ? startsAt(r.notBefore) : ''}
    ${r.reason ? html`<p class="reason">${r.reason}</p>` : ''}
    ${r.items
      .filter((i) => i.leftOut.length > 0)
      .map((i) => html`<p class="muted">${i.service}: left out ${i.leftOut.join(', ')}</p>`)}
    <ol class="waves">
      ${r.waves.map(
        (w) =>
          html`<li class="wave" data-wave="${w.index + 1}">
            <span class="muted"
              >wave ${w.index + 1}${w.bakeUntil ? ` · bake until ${w.bakeUntil.slice(11, 19)}` : ''}</span
            >
            <ul class="cells">
              ${w.clusters.map(
                (c) =>
                  html`<li
                    class="cell ${tone(c.state)}"
                    data-cluster="${c.service}-${c.env}"
                    data-state="${c.state}"
                    title="${c.reason ?? ''}"
                  >
                    ${
                      c.deployment
                        ? html`<a href="/deployments/${c.deployment}">${c.service} ${c.env}</a>`
                        : `${c.service} ${c.env}`
                    }
                    ${c.region ? html`<span class="muted">${c.region}</span>` : ''}
                    <span class="state">${c.state}</span>
                  </li>`,
              )}
            </ul>
          </li>`,
      )}
    </ol>
  </article>`;
}

export function multiReleasesSection(releases: ReleaseView[]): Html {
  return html`<section id="multi-releases">
    <h2>Releases across clusters</h2>
    ${releases.length === 0 ? html`<p class="muted">None yet: slipway release search@1.4.0 --env prod</p>` : ''}
    ${releases.slice(0, 5).map(releaseGraph)}
  </section>`;
}

export function syncSection(sets: SyncView[], summary: Html = html``): Html {
  return html`<section id="sync">
    <h2>Sync sets</h2>
    ${summary}
    ${sets.length === 0 && summary.text === '' ? html`<p class="muted">No service groups its clusters yet (metadata "clusters").</p>` : ''}
    ${sets.map(syncSetArticle)}
  </section>`;
}

function syncSetArticle(s: SyncView): Html {
  return html`<article class="sync-set" data-sync="${s.service}-${s.set}" data-in-sync="${String(s.inSync)}">
    <h3>
      ${s.service} ${s.set}
      <span class="badge ${s.inSync ? 'good' : 'bad'}">${s.inSync ? 'in sync' : 'out of sync'}</span>
    </h3>
    <ul class="cells">
      ${s.clusters.map(
        (c) =>
          html`<li
            class="cell ${c.odd ? 'bad' : 'good'}"
            data-cluster="${s.service}-${c.env}"
            data-odd="${String(c.odd)}"
          >
            <span class="id">${c.env}${c.region ? ` · ${c.region}` : ''}</span>
            <span class="state">${c.image ?? 'nothing'} ${c.version ?? ''}${c.odd ? ' · odd one out' : ''}</span>
          </li>`,
      )}
    </ul>
    ${s.differs.map((d) => html`<p class="reason">${d}</p>`)}
  </article>`;
}

const outOfSync = (s: SyncView) => !s.inSync;

/** The home page's sync sets: those out of sync first, a screenful, the rest behind /sync. */
export function homeSyncSection(sets: SyncView[]): Html {
  const shown = attentionFirst(sets, outOfSync, HOME_SHOWN);
  const attention = sets.filter(outOfSync).length;
  return syncSection(
    shown,
    homeSummary('sync sets', { total: sets.length, attention, shown: shown.length }, '/sync', 'out of sync'),
  );
}

/** Every sync set (or those out of sync), a page at a time. */
export function syncPage(sets: SyncView[], query: Record<string, unknown>): Html {
  const attention = query.attention === '1';
  const { items, page, pages } = pageOf(attention ? sets.filter(outOfSync) : sets, query.page);
  return layout(
    'Sync sets',
    html`${syncSection(items, html`<p class="muted">${sets.length} sync sets, ${sets.filter(outOfSync).length} out of sync${attention ? ': those out of sync' : ''}</p>`)}
    ${pager('/sync', page, pages, attention)}`,
    '',
  );
}

export async function releaseSections(data: ReleaseData, id: string): Promise<Record<string, Html> | undefined> {
  const r = await data.release(id);
  if (!r) return undefined;
  return { release: new Html(`<section id="release">${releaseGraph(r).toString()}</section>`) };
}
