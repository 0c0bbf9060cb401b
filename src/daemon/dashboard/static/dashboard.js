// Berth's dashboard in the browser: keeps a server-rendered page current and draws its charts.
// Served as it is (no build step). The page works without it: the tables are the page.
//
// Every page names its JSON endpoint in <body data-api>. The script polls it; when its
// `revision` differs from the page's, it fetches the page again and swaps in the sections
// marked data-live (the server escaped them: nothing here builds markup from data), then
// redraws the charts from the JSON's `chart`, if any.
'use strict';

(function () {
  const body = document.body;
  const api = body.dataset.api;
  if (!api) return;
  let revision = body.dataset.revision;
  const indicator = document.getElementById('live');
  const plots = new Map();
  const LIVE_MS = 1000;
  const IDLE_MS = 5000;

  function say(text, problem) {
    if (!indicator) return;
    indicator.hidden = false;
    indicator.textContent = text;
    indicator.classList.toggle('problem', Boolean(problem));
  }

  async function swapSections() {
    const response = await fetch(location.pathname, {
      headers: { Accept: 'text/html' },
      cache: 'no-store',
    });
    if (!response.ok) throw new Error(`page answered ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
    for (const section of fresh.querySelectorAll('[data-live][id]')) {
      const current = document.getElementById(section.id);
      if (current) current.replaceWith(document.importNode(section, true));
    }
    const heading = fresh.querySelector('h1');
    const currentHeading = document.querySelector('h1');
    if (heading && currentHeading) currentHeading.textContent = heading.textContent;
  }

  // The canary is drawn last, on top: where it and the baseline agree, the canary shows.
  const SERIES = {
    canary: { stroke: '#c0392b', width: 2, points: { show: true, size: 7 } },
    baseline: { stroke: '#2471a3', width: 2, points: { show: true, size: 5 } },
    threshold: { stroke: '#7f8c8d', width: 1, dash: [6, 4], points: { show: false } },
  };

  /**
   * One window series per measure, with the threshold as a line across the whole time axis
   * (the axis' ends carry only the threshold, so that a single window still shows against it).
   */
  function windowChart(chart, measure, threshold, unit) {
    const w = chart.windows;
    const ends = (values) => [null, ...values, null];
    return {
      points: w.length,
      unit,
      data: [
        [chart.start, ...w.map((x) => x.at), chart.until],
        ends(w.map((x) => x[`baseline${measure}`])),
        [threshold, ...w.map(() => threshold), threshold],
        ends(w.map((x) => x[`canary${measure}`])),
      ],
      series: [
        { label: `baseline ${unit}`, ...SERIES.baseline },
        { label: 'threshold', ...SERIES.threshold },
        { label: `canary ${unit}`, ...SERIES.canary },
      ],
      empty: 'No window judged yet.',
    };
  }

  /** What each chart container draws: its data (uPlot's column arrays) and series. */
  const CHARTS = {
    rate5xx: (chart) => windowChart(chart, '5xxPercent', chart.max5xxRatePercent, '%'),
    p99: (chart) => windowChart(chart, 'P99Ms', chart.maxP99Ms, 'ms'),
    weights(chart) {
      const w = chart.weights;
      const last = w[w.length - 1];
      const xs = w.map((x) => x.at);
      const ys = w.map((x) => x.canary);
      if (last && chart.until > last.at) {
        xs.push(chart.until);
        ys.push(last.canary);
      }
      return {
        points: w.length,
        unit: '%',
        range: [0, 100],
        data: [xs, ys],
        series: [
          {
            label: 'canary traffic %',
            ...SERIES.canary,
            points: { show: true, size: 5 },
            paths: uPlot.paths.stepped({ align: 1 }),
          },
        ],
        empty: 'No weights written yet.',
      };
    },
  };

  function drawCharts(chart) {
    if (typeof uPlot === 'undefined') return;
    for (const element of document.querySelectorAll('[data-chart]')) {
      const kind = element.dataset.chart;
      const spec = CHARTS[kind] && CHARTS[kind](chart);
      if (!spec) continue;
      const previous = plots.get(kind);
      if (previous) previous.destroy();
      plots.delete(kind);
      element.textContent = '';
      element.dataset.points = String(spec.points);
      if (spec.points === 0) {
        element.textContent = spec.empty;
        continue;
      }
      const options = {
        width: Math.max(element.clientWidth, 320),
        height: 200,
        // One time axis for every chart, padded by a second so that the ends' points show.
        scales: {
          x: { time: true, range: [chart.start - 1, chart.until + 1] },
          y: spec.range ? { range: spec.range } : {},
        },
        series: [{}, ...spec.series],
        // The names only: values under the cursor would leave "--" placeholders at rest.
        legend: { live: false },
        // The tables write times in UTC (…Z): the charts' axis too, whatever the browser's zone.
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        axes: [{}, { values: (_, ticks) => ticks.map((tick) => `${tick} ${spec.unit}`), size: 70 }],
      };
      plots.set(kind, new uPlot(options, spec.data, element));
    }
  }

  async function poll() {
    // A tab in the background asks nothing of the database.
    if (document.hidden) {
      setTimeout(poll, IDLE_MS);
      return;
    }
    let live = true;
    try {
      const response = await fetch(api, { cache: 'no-store' });
      if (!response.ok) throw new Error(`${api} answered ${response.status}`);
      const data = await response.json();
      live = data.live;
      if (data.revision !== revision || plots.size === 0) {
        if (data.revision !== revision) await swapSections();
        revision = data.revision;
        body.dataset.revision = revision;
        if (data.chart) drawCharts(data.chart);
      }
      say(live ? `live · ${new Date().toISOString().slice(11, 19)}Z` : 'finished', false);
    } catch (error) {
      say(`not updating (${error.message}); retrying`, true);
    }
    setTimeout(poll, live ? LIVE_MS : IDLE_MS);
  }

  poll();
})();
