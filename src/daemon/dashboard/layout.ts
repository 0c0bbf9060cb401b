import { html, type Html } from './html.ts';

/** What every page has in common: where its live data comes from and what it is called. */
export interface PageFrame {
  title: string;
  /** Breadcrumbs after "Berth", already escaped. */
  trail: Html;
  /** The JSON endpoint the page's script polls for changes. */
  api: string;
  /** The JSON's revision when this page was rendered: a different one means redraw. */
  revision: string;
  /** Whether the page draws charts (and so loads uPlot). */
  charts: boolean;
  body: Html;
}

/**
 * A page of the dashboard. It works without JavaScript: the tables are the page. With
 * JavaScript, `/static/dashboard.js` polls `api` and swaps in the sections marked `data-live`
 * when the revision changes, and draws the charts.
 */
export function page(frame: PageFrame): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${frame.title} · Berth</title>
        ${frame.charts ? html`<link rel="stylesheet" href="/static/uPlot.min.css" />` : ''}
        <link rel="stylesheet" href="/static/dashboard.css" />
      </head>
      <body data-api="${frame.api}" data-revision="${frame.revision}">
        <header>
          <nav><a href="/">Berth</a>${frame.trail}</nav>
          <span id="live" class="live" hidden></span>
        </header>
        <main>${frame.body}</main>
        ${frame.charts ? html`<script src="/static/uPlot.iife.min.js"></script>` : ''}
        <script src="/static/dashboard.js"></script>
      </body>
    </html> `;
}

/** A page that says what was not found; `what` is escaped like everything else. */
export function notFoundPage(what: string): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>Not found · Berth</title>
        <link rel="stylesheet" href="/static/dashboard.css" />
      </head>
      <body>
        <header>
          <nav><a href="/">Berth</a></nav>
        </header>
        <main>
          <h1>Not found</h1>
          <p class="problem">${what}</p>
          <p><a href="/">The fleet</a></p>
        </main>
      </body>
    </html> `;
}

/** A section the page's script replaces when the data changes; `id` must be unique. */
export function liveSection(id: string, title: string, content: Html): Html {
  return html`<section id="${id}" data-live>
    <h2>${title}</h2>
    ${content}
  </section>`;
}

/** A table, or `empty` when there are no rows. */
export function table(headings: readonly string[], rows: readonly Html[], empty: string): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<table>
    <thead>
      <tr>
        ${headings.map((heading) => html`<th scope="col">${heading}</th>`)}
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}
