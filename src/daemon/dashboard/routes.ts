import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from '../../store/database.ts';
import { appDashboard, appsDashboard } from '../../store/dashboard/apps.ts';
import { deploymentDashboard } from '../../store/dashboard/deployment.ts';
import { fleetDashboard } from '../../store/dashboard/fleet.ts';
import { serviceDashboard } from '../../store/dashboard/service.ts';
import { appBody, appLink, appsSection } from './app-page.ts';
import { deploymentBody, deploymentChartData } from './deployment-page.ts';
import { fleetBody } from './fleet-page.ts';
import { serviceLink } from './format.ts';
import { html } from './html.ts';
import { notFoundPage, page } from './layout.ts';
import { serviceBody } from './service-page.ts';

/** What the dashboard answers; the daemon writes it with the headers below. */
export interface DashboardResponse {
  status: number;
  contentType: string;
  body: string | Buffer;
  /** Extra headers: the security policy of pages, the caching of static files. */
  headers: Record<string, string>;
}

/**
 * Pages run only the daemon's own scripts and styles and talk only to the daemon; whatever a
 * service name or a message holds, a browser will not run it. uPlot sets styles through the
 * CSSOM, which `style-src` does not restrict.
 */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const HTML_TYPE = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

const here = dirname(fileURLToPath(import.meta.url));
// uPlot's own distribution files, served as they ship: no CDN, no build step.
const uplotDist = dirname(createRequire(import.meta.url).resolve('uplot'));

/** The only files served under /static/: a fixed list, so no path reaches anything else. */
const STATIC_FILES: Record<string, { path: string; type: string }> = {
  'dashboard.js': {
    path: join(here, 'static', 'dashboard.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'dashboard.css': { path: join(here, 'static', 'dashboard.css'), type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': {
    path: join(uplotDist, 'uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'uPlot.min.css': { path: join(uplotDist, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const staticCache = new Map<string, Buffer>();

/** What a page that names nothing says; the name is escaped where it is shown. */
const NOT_FOUND = {
  service: (name: string) => `No service named "${name}".`,
  deployment: (id: string) => `No deployment #${id}: deployments are numbered 1, 2, …`,
  app: (name: string) => `No app named "${name}".`,
};

/**
 * The dashboard's answer to a GET of `path`, or undefined when the path is not the dashboard's.
 * `/` the fleet, `/services/NAME`, `/deployments/ID`, `/apps/NAME`; the same under `/api/` as JSON (with a
 * `revision` that changes when the data does, which the page's script polls); `/static/*`.
 */
export async function dashboardResponse(
  db: Db,
  path: string,
  now: Date,
): Promise<DashboardResponse | undefined> {
  if (path.startsWith('/static/')) return staticFile(path.slice('/static/'.length));
  const api = path.startsWith('/api/');
  const route = api ? path.slice('/api'.length) : path;
  if (route === (api ? '/fleet' : '/')) {
    const [fleet, apps] = await Promise.all([fleetDashboard(db), appsDashboard(db)]);
    const revision = revisionOf({ fleet, apps });
    if (api) return json({ revision, live: true, ...fleet, apps });
    return htmlPage(
      page({
        title: 'Fleet',
        trail: html``,
        api: '/api/fleet',
        revision,
        charts: false,
        body: html`${fleetBody(fleet)}${appsSection(apps)}`,
      }).text,
    );
  }
  const app = /^\/apps\/([^/]+)$/.exec(route);
  if (app !== null) {
    const name = decodeSegment(app[1] ?? '');
    const view = name === undefined ? undefined : await appDashboard(db, name);
    if (view === undefined) return notFound(api, NOT_FOUND.app(name ?? route));
    const revision = revisionOf(view);
    if (api) return json({ revision, live: true, ...view });
    return htmlPage(
      page({
        title: `app ${view.app.name}`,
        trail: html` › ${appLink(view.app.name)}`,
        api: `/api/apps/${encodeURIComponent(view.app.name)}`,
        revision,
        charts: false,
        body: appBody(view),
      }).text,
    );
  }
  const service = /^\/services\/([^/]+)$/.exec(route);
  if (service !== null) {
    const name = decodeSegment(service[1] ?? '');
    const view = name === undefined ? undefined : await serviceDashboard(db, name);
    if (view === undefined) return notFound(api, NOT_FOUND.service(name ?? route));
    const revision = revisionOf(view);
    if (api) return json({ revision, live: true, ...view });
    return htmlPage(
      page({
        title: view.service.name,
        trail: html` › ${serviceLink(view.service.name)}`,
        api: `/api/services/${encodeURIComponent(view.service.name)}`,
        revision,
        charts: false,
        body: serviceBody(view),
      }).text,
    );
  }
  const deployment = /^\/deployments\/([^/]+)$/.exec(route);
  if (deployment !== null) {
    const raw = deployment[1] ?? '';
    // Ids are bigints read as numbers: beyond a safe integer none is named exactly.
    const id =
      /^[1-9]\d*$/.test(raw) && Number.isSafeInteger(Number(raw)) ? Number(raw) : undefined;
    const view = id === undefined ? undefined : await deploymentDashboard(db, id);
    if (view === undefined) return notFound(api, NOT_FOUND.deployment(decodeSegment(raw) ?? raw));
    const revision = revisionOf(view);
    const live = view.deployment.finishedAt === null;
    if (api) return json({ revision, live, ...view, chart: deploymentChartData(view, now) });
    return htmlPage(
      page({
        title: `${view.serviceName} #${view.deployment.id}`,
        trail: html` › ${serviceLink(view.serviceName)} › #${view.deployment.id}`,
        api: `/api/deployments/${view.deployment.id}`,
        revision,
        charts: true,
        body: deploymentBody(view),
      }).text,
    );
  }
  return undefined;
}

/** A digest of what a page shows: equal digests, nothing to redraw. */
function revisionOf(view: unknown): string {
  return createHash('sha256').update(JSON.stringify(view)).digest('base64url').slice(0, 16);
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function htmlPage(body: string, status = 200): DashboardResponse {
  return { status, contentType: HTML_TYPE, body, headers: PAGE_HEADERS };
}

function json(value: unknown, status = 200): DashboardResponse {
  return {
    status,
    contentType: JSON_TYPE,
    body: JSON.stringify(value),
    headers: { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' },
  };
}

function notFound(api: boolean, what: string): DashboardResponse {
  return api ? json({ error: what }, 404) : htmlPage(notFoundPage(what).text, 404);
}

async function staticFile(name: string): Promise<DashboardResponse | undefined> {
  const file = STATIC_FILES[name];
  if (file === undefined) return undefined;
  let body = staticCache.get(name);
  if (body === undefined) {
    body = await readFile(file.path);
    staticCache.set(name, body);
  }
  return {
    status: 200,
    contentType: file.type,
    body,
    // Revalidated on every load: a daemon upgraded under an open tab serves its new script.
    headers: { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' },
  };
}
