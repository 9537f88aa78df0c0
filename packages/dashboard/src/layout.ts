/** The frame of every page: a header linking every page, the sign-in page, the 404 page. */
import { Html, html } from './html.js';

const NAV = [
  ['/', 'Overview'],
  ['/services', 'Services'],
  ['/clusters', 'Clusters'],
  ['/deployments', 'Deployments'],
] as const;

export function layout(title: string, body: Html, live: string, options: { signedIn?: boolean } = {}): Html {
  const signedIn = options.signedIn ?? true;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Slipway</title>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/dashboard.css" />
      </head>
      <body data-live="${live}">
        <header>
          <a class="brand" href="/"><strong>Slipway</strong></a>
          ${
            signedIn
              ? html`<nav>${NAV.map(([href, label]) => html`<a href="${href}">${label}</a>`)}</nav>
                  <form class="signout" method="post" action="/signout"><button type="submit">Sign out</button></form>`
              : html`<span class="muted">read-only</span>`
          }
        </header>
        <main>${body}</main>
        ${
          signedIn
            ? html`<script src="/assets/chart.umd.js"></script>
                <script src="/assets/dashboard.js"></script>`
            : ''
        }
      </body>
    </html>`;
}

/** The sign-in page: it names no path on the host (where the admin token lies is for its owner to know). */
export function signInPage(next: string, refused: boolean): Html {
  return layout(
    'Sign in',
    html`<section class="signin">
      <h2>Sign in</h2>
      <p>The dashboard shows what a Slipway token can read. Paste one (the reader role is enough).</p>
      ${refused ? html`<p class="reason" role="alert">That token was refused.</p>` : ''}
      <form method="post" action="/signin">
        <input type="hidden" name="next" value="${next}" />
        <label>Token <input type="password" name="token" autocomplete="off" required autofocus /></label>
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">
        On the machine running <code>npm start</code>: the <code>admin-token</code> file in its data directory.
      </p>
    </section>`,
    '',
    { signedIn: false },
  );
}

export function notFoundPage(what: string): Html {
  return layout(
    'Not found',
    html`<section class="not-found" data-not-found>
      <h2>Not found</h2>
      <p>There is no ${what}.</p>
      <p><a href="/">Overview</a> · <a href="/services">Services</a> · <a href="/deployments">Deployments</a></p>
    </section>`,
    '',
  );
}

export const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#24292f"/><path d="M6 22h20l-4 5H10z" fill="#fff"/><path d="M16 5v15M16 5l7 12h-7" stroke="#fff" stroke-width="2" fill="none"/></svg>`;
