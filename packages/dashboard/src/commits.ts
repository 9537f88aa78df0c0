/**
 * "Recent commits", in Wealthfront's spirit: each commit with its author, its build (with the
 * link to it), where it runs now, and — the page staying read-only — the exact command that
 * reverts it in each environment whose running artifact holds it.
 */
import type { CommitSummary, Data, Deployment } from './data.js';
import { html, linkable, type Html } from './html.js';

/**
 * The environments whose running artifact (likely) holds a commit: those running it or a commit
 * listed before it (newer, on the default branch).
 */
function holding(items: CommitSummary[], index: number): string[] {
  return [...new Set(items.slice(0, index + 1).flatMap((c) => c.runningIn))];
}

function row(c: CommitSummary, envs: string[], withService: boolean): Html {
  const status = c.build?.status ?? 'no build';
  return html`<tr>
    ${withService ? html`<td><a href="/services/${c.service}">${c.service}</a></td>` : ''}
    <td><code>${c.commit.slice(0, 12)}</code></td>
    <td>${c.message ?? ''} <span class="muted">${c.author ?? ''}</span></td>
    <td class="build-${status.replace(/\s/g, '-')}">
      ${linkable(c.build?.url) ? html`<a href="${linkable(c.build?.url)}">${status}</a>` : status}${c.version ? html` <span class="muted">${c.version}</span>` : ''}
    </td>
    <td>${c.runningIn.join(', ') || html`<span class="muted">—</span>`}</td>
    <td>
      ${envs.map((env) => html`<code class="command">slipway revert ${c.service} ${env} ${c.commit.slice(0, 12)}</code> `)}
    </td>
  </tr>`;
}

export function commitsSection(items: CommitSummary[], options: { withService?: boolean } = {}): Html {
  const withService = options.withService === true;
  return html`<section id="commits">
    <h2>Recent commits</h2>
    ${
      items.length === 0
        ? html`<p class="muted">
            No commits known: CI reports builds (POST /builds), and the service's <code>repo</code> names its
            repository.
          </p>`
        : html`<div class="scroll">
            <table class="commits">
              <thead>
                <tr>
                  ${withService ? html`<th>Service</th>` : ''}
                  <th>Commit</th>
                  <th>Message</th>
                  <th>Build</th>
                  <th>Runs in</th>
                  <th>Revert</th>
                </tr>
              </thead>
              <tbody>
                ${items.map((c) => {
                  const ofService = items.filter((other) => other.service === c.service);
                  return row(c, holding(ofService, ofService.indexOf(c)), withService);
                })}
              </tbody>
            </table>
          </div>`
    }
  </section>`;
}

/** The newest built commits across services, newest first: one request, however many services there are. */
export async function recentCommitsAcross(data: Data, limit = 10): Promise<Html> {
  return commitsSection(await data.recentCommits(limit), { withService: true });
}

/** The source commits a deployment brought in since the release before it (its page). */
export async function sourceChangeSection(data: Data, d: Deployment, before: Deployment | undefined): Promise<Html> {
  // What the deployment recorded (its image carried it), else its version's reported build.
  const sourceOf = async (x: Deployment) =>
    x.context.sourceCommit ??
    (x.context.imageVersion ? await data.sourceCommit(x.service, x.context.imageVersion) : undefined);
  const to = await sourceOf(d);
  const from = before ? await sourceOf(before) : undefined;
  let body: Html;
  if (!to)
    body = html`<p class="muted">
      No build was reported for ${d.context.imageVersion ?? 'this image'}: its source commit is unknown.
    </p>`;
  else if (from === to) body = html`<p class="muted">The same source as the release before (${to.slice(0, 12)}).</p>`;
  else {
    const listed = await data.commits(d.service, 100);
    const start = listed.findIndex((c) => c.commit === to);
    const end = from ? listed.findIndex((c) => c.commit === from) : -1;
    const between = start < 0 ? [] : listed.slice(start, end < 0 ? undefined : end);
    body = between.length
      ? html`<ul>
          ${between.map(
            (c) =>
              html`<li>
                <code>${c.commit.slice(0, 12)}</code> ${c.message ?? ''}
                <span class="muted">${c.author ?? ''}${c.build?.status ? `, ${c.build.status}` : ''}</span>
              </li>`,
          )}
        </ul>`
      : html`<p class="muted">${to.slice(0, 12)}: the commits before it are not in the repository mirror.</p>`;
  }
  return html`<section id="source-change">
    <h2>Source commits</h2>
    ${body}
  </section>`;
}
