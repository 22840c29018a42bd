// The Privacy dashboard of keras-mia: a dependency-free ES module that
// TensorBoard loads into the "Privacy" tab's iframe. It reads JSON from the
// plugin's routes (relative URLs; the iframe's <base> points at
// data/plugin/keras_mia/) and draws SVG charts.
//
// Every string that comes from the logs (run names, tags, record ids, class
// names, configuration values) reaches the page through textContent,
// createTextNode or setAttribute, never through innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

const METRIC_LABELS = {
  auc: 'AUC',
  advantage: 'Advantage',
  accuracy: 'Attack accuracy',
  'tpr_at_0.1pct_fpr': 'TPR at 0.1% FPR',
  'tpr_at_1pct_fpr': 'TPR at 1% FPR',
};
const ATTACK_COLORS = {
  correctness: '#8e24aa',
  confidence: '#1e88e5',
  entropy: '#00897b',
  modified_entropy: '#f4511e',
  loss: '#c0ca33',
};
const PALETTE = [
  '#1e88e5', '#f4511e', '#00897b', '#8e24aa', '#c0ca33', '#6d4c41',
  '#d81b60', '#3949ab', '#fb8c00', '#546e7a',
];
const HEADLINE_COLOR = '#212121';
const MEMBER_COLOR = '#e53935';
const NON_MEMBER_COLOR = '#1e88e5';
const MAX_DEFAULT_RUNS = 4;

const state = {
  runs: [],
  selected: new Set(),
  metric: 'auc',
  topK: 10,
  steps: new Map(), // run -> selected step
};

// ---------------------------------------------------------------- DOM helpers

/** Creates an HTML element; string children become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  append(node, children);
  return node;
}

/** Creates an SVG element; string children become text nodes. */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  append(node, children);
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, String(value));
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(
        child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// ------------------------------------------------------------------- data I/O

async function getJson(route, params = {}) {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(query ? `${route}?${query}` : route);
  if (!response.ok) {
    const detail = (await response.text()).slice(0, 300);
    throw new Error(`${route}: HTTP ${response.status} ${detail}`);
  }
  return response.json();
}

// ---------------------------------------------------------------- formatting

function fmt(value, digits = 4) {
  return value === null || value === undefined || !Number.isFinite(value) ?
      'n/a' :
      value.toFixed(digits);
}

function fmtSigned(value, digits = 4) {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  return (value >= 0 ? '+' : '\u2212') + Math.abs(value).toFixed(digits);
}

function metricLabel(metric) {
  return METRIC_LABELS[metric] || metric;
}

function attackColor(attack, index) {
  return ATTACK_COLORS[attack] || PALETTE[index % PALETTE.length];
}

function epochOf(step) {
  return step + 1; // Keras prints epochs 1-based; steps are 0-based.
}

function tickLabel(value) {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(4)));
}

// -------------------------------------------------------------------- scales

function linearScale([d0, d1], [r0, r1], integer = false) {
  const span = d1 - d0 || 1;
  const scale = (v) => r0 + ((v - d0) / span) * (r1 - r0);
  scale.ticks = (count = 5) => linearTicks(d0, d1, count, integer);
  return scale;
}

function logScale([d0, d1], [r0, r1]) {
  const l0 = Math.log10(d0);
  const span = Math.log10(d1) - l0 || 1;
  const scale = (v) => r0 + ((Math.log10(v) - l0) / span) * (r1 - r0);
  scale.ticks = () => {
    const ticks = [];
    for (let e = Math.ceil(l0 - 1e-9); e <= Math.log10(d1) + 1e-9; e++) {
      ticks.push(10 ** e);
    }
    return ticks;
  };
  return scale;
}

function linearTicks(d0, d1, count, integer = false) {
  const span = d1 - d0;
  if (!(span > 0)) return [d0];
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  if (integer) step = Math.max(1, Math.round(step));
  const ticks = [];
  for (let t = Math.ceil(d0 / step) * step; t <= d1 + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

function extent(values, pad = 0.05) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const margin = (hi - lo) * pad;
  return [lo - margin, hi + margin];
}

// -------------------------------------------------------------------- charts

/**
 * A line chart in a <figure>.
 *
 * options: {chart, title, width, height, xLabel, yLabel, xScale, yScale,
 * xDomain, yDomain, series: [{name, points: [[x, y]], color, width, dash,
 * markers}], hlines: [{y, label, color}], events: [{x, label}], vline,
 * diagonal, legend}
 */
function lineChart(options) {
  const width = options.width || 440;
  const height = options.height || 230;
  const margin = {top: 12, right: 16, bottom: 40, left: 52};
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const makeScale = (kind) => (kind === 'log' ? logScale : linearScale);
  const x = makeScale(options.xScale)(
      options.xDomain, [margin.left, margin.left + plotW], options.xInteger);
  const y = makeScale(options.yScale)(
      options.yDomain, [margin.top + plotH, margin.top]);
  const inDomain = ([px, py]) => px !== null && py !== null &&
      (options.xScale !== 'log' || px > 0) &&
      (options.yScale !== 'log' || py > 0);

  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'kmia-chart',
    role: 'img',
    'data-width': width,
  });
  append(root, [svg('title', {}, options.title)]);
  const clipId = `clip-${Math.random().toString(36).slice(2)}`;
  root.appendChild(svg('defs', {}, svg('clipPath', {id: clipId}, svg('rect', {
    x: margin.left, y: margin.top, width: plotW, height: plotH,
  }))));

  // Axes and grid.
  const axes = svg('g', {class: 'kmia-axes'});
  for (const t of x.ticks(6)) {
    const px = x(t);
    axes.appendChild(svg('line', {
      x1: px, x2: px, y1: margin.top, y2: margin.top + plotH, class: 'grid',
    }));
    axes.appendChild(svg('text', {
      x: px, y: margin.top + plotH + 14, 'text-anchor': 'middle',
    }, tickLabel(t)));
  }
  for (const t of y.ticks(5)) {
    const py = y(t);
    axes.appendChild(svg('line', {
      x1: margin.left, x2: margin.left + plotW, y1: py, y2: py, class: 'grid',
    }));
    axes.appendChild(svg('text', {
      x: margin.left - 6, y: py + 4, 'text-anchor': 'end',
    }, tickLabel(t)));
  }
  axes.appendChild(svg('rect', {
    x: margin.left, y: margin.top, width: plotW, height: plotH, class: 'frame',
  }));
  axes.appendChild(svg('text', {
    x: margin.left + plotW / 2, y: height - 6, 'text-anchor': 'middle',
    class: 'label',
  }, options.xLabel || ''));
  axes.appendChild(svg('text', {
    x: 12, y: margin.top + plotH / 2, 'text-anchor': 'middle', class: 'label',
    transform: `rotate(-90 12 ${margin.top + plotH / 2})`,
  }, options.yLabel || ''));
  root.appendChild(axes);

  const plot = svg('g', {'clip-path': `url(#${clipId})`});
  if (options.diagonal) {
    const [lo, hi] = [
      Math.max(options.xDomain[0], options.yDomain[0]),
      Math.min(options.xDomain[1], options.yDomain[1]),
    ];
    plot.appendChild(svg('line', {
      x1: x(lo), y1: y(lo), x2: x(hi), y2: y(hi), class: 'diagonal',
    }));
  }
  for (const line of options.hlines || []) {
    plot.appendChild(svg('line', {
      x1: margin.left, x2: margin.left + plotW, y1: y(line.y), y2: y(line.y),
      class: 'hline', stroke: line.color || '#d32f2f',
      'data-kind': line.kind || 'hline',
    }, svg('title', {}, `${line.label}: ${fmt(line.y)}`)));
  }
  for (const event of options.events || []) {
    plot.appendChild(svg('line', {
      x1: x(event.x), x2: x(event.x), y1: margin.top, y2: margin.top + plotH,
      class: 'event', 'data-kind': event.kind,
    }, svg('title', {}, event.label)));
    plot.appendChild(svg('text', {
      x: x(event.x) - 3, y: margin.top + plotH - 4, 'text-anchor': 'end',
      class: 'event-label',
    }, event.label));
  }
  if (options.vline !== undefined && options.vline !== null) {
    plot.appendChild(svg('line', {
      x1: x(options.vline), x2: x(options.vline), y1: margin.top,
      y2: margin.top + plotH, class: 'vline',
    }));
  }
  for (const series of options.series) {
    const points = series.points.filter(inDomain);
    if (!points.length) continue;
    const d = points
        .map(([px, py], i) => `${i ? 'L' : 'M'}${x(px).toFixed(2)},${
            y(py).toFixed(2)}`)
        .join('');
    const group = svg('g', {'data-series': series.name});
    group.appendChild(svg('path', {
      d,
      fill: 'none',
      stroke: series.color,
      'stroke-width': series.width || 1.6,
      'stroke-dasharray': series.dash,
      'data-points': points.length,
    }));
    if (series.markers) {
      for (const [px, py] of points) {
        group.appendChild(svg('circle', {
          cx: x(px), cy: y(py), r: 2.6, fill: series.color,
        }, svg('title', {}, `${series.name}: ${fmt(py)} at ${px}`)));
      }
    }
    plot.appendChild(group);
  }
  for (const line of options.hlines || []) {
    plot.appendChild(svg('text', {
      x: margin.left + 4, y: y(line.y) - 4, 'text-anchor': 'start',
      class: 'hline-label', fill: line.color || '#d32f2f',
    }, `${line.label} ${fmt(line.y, 3)}`));
  }
  root.appendChild(plot);
  return figure(options, root);
}

/** Overlaid histograms; `series: [{name, buckets: [[l, r, count]], color}]`. */
function histogramChart(options) {
  const width = options.width || 440;
  const height = options.height || 230;
  const margin = {top: 12, right: 16, bottom: 40, left: 52};
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const shares = options.series.map((s) => {
    const total = s.buckets.reduce((sum, b) => sum + b[2], 0) || 1;
    return s.buckets.map(([l, r, c]) => [l, r, c / total]);
  });
  const all = shares.flat();
  // Risk scores are probabilities: keep the whole [0, 1] axis in view.
  const xDomain = [
    Math.min(0, ...all.map((b) => b[0])),
    Math.max(1, ...all.map((b) => b[1])),
  ];
  const yDomain = [0, Math.max(0.01, ...all.map((b) => b[2])) * 1.08];
  const x = linearScale(xDomain, [margin.left, margin.left + plotW]);
  const y = linearScale(yDomain, [margin.top + plotH, margin.top]);
  // Reuse the line chart's axes, then draw bars on top.
  const fig = lineChart(Object.assign({}, options, {
    xDomain, yDomain, series: [], xScale: 'linear', yScale: 'linear',
    legendItems: options.series,
  }));
  const root = fig.querySelector('svg');
  options.series.forEach((series, i) => {
    const group = svg('g', {'data-series': series.name});
    for (const [l, r, share] of shares[i]) {
      if (!(share > 0)) continue;
      group.appendChild(svg('rect', {
        x: x(l), y: y(share), width: Math.max(0.5, x(r) - x(l)),
        height: y(0) - y(share), fill: series.color, 'fill-opacity': 0.45,
        stroke: series.color, 'stroke-width': 0.6,
      }, svg('title', {}, `${series.name}: ${(100 * share).toFixed(1)}% in [${
          fmt(l, 3)}, ${fmt(r, 3)})`)));
    }
    root.appendChild(group);
  });
  return fig;
}

function figure(options, chart) {
  const fig = el('figure', {
    class: 'kmia-figure',
    'data-chart': options.chart,
    style: `flex-basis:${options.width || 440}px;max-width:${
        Math.round((options.width || 440) * 1.25)}px`,
  });
  fig.appendChild(el('figcaption', {}, options.title));
  fig.appendChild(chart);
  if (options.legend !== false) {
    const legend = el('div', {class: 'kmia-legend'});
    for (const item of options.legendItems || options.series) {
      legend.appendChild(el('span', {class: 'kmia-legend-item'},
          el('span', {
            class: 'kmia-swatch',
            style: `background:${item.color}`,
          }),
          item.label || item.name));
    }
    for (const line of options.hlines || []) {
      legend.appendChild(el('span', {class: 'kmia-legend-item'},
          el('span', {
            class: 'kmia-swatch kmia-swatch-dashed',
            style: `border-color:${line.color || '#d32f2f'}`,
          }),
          line.label));
    }
    fig.appendChild(legend);
  }
  return fig;
}

function sparkline(history, selectedStep) {
  const width = 110;
  const height = 26;
  const values = history.map(([, v]) => v).filter((v) => v !== null);
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, width, height, class: 'kmia-spark',
  });
  if (!values.length) return root;
  const steps = history.map(([s]) => s);
  const x = linearScale([Math.min(...steps), Math.max(...steps)], [4, width - 4]);
  const y = linearScale(
      [Math.min(0, ...values), Math.max(1, ...values)], [height - 3, 3]);
  const points = history.filter(([, v]) => v !== null);
  root.appendChild(svg('path', {
    d: points.map(([s, v], i) => `${i ? 'L' : 'M'}${x(s)},${y(v)}`).join(''),
    fill: 'none', stroke: MEMBER_COLOR, 'stroke-width': 1.4,
  }));
  for (const [s, v] of points) {
    root.appendChild(svg('circle', {
      cx: x(s), cy: y(v), r: s === selectedStep ? 3 : 1.6,
      fill: s === selectedStep ? MEMBER_COLOR : '#9e9e9e',
    }, svg('title', {}, `epoch ${epochOf(s)}: ${fmt(v)}`)));
  }
  return root;
}

// ------------------------------------------------------------------- views

function emptyState() {
  return el('div', {class: 'kmia-empty', 'data-state': 'empty'},
      el('h2', {}, 'No privacy data in this log directory'),
      el('p', {},
          'The Privacy tab shows membership-inference leakage written by ',
          'keras-mia\u2019s MembershipInferenceCallback into a ',
          el('code', {}, 'privacy'),
          ' run next to Keras\u2019 ',
          el('code', {}, 'train'), ' and ', el('code', {}, 'validation'),
          ' runs. Add the callback to ', el('code', {}, 'model.fit'),
          ' and point it at the same log_dir as the TensorBoard callback:'),
      el('pre', {}, [
        'import keras_mia',
        'mia = keras_mia.MembershipInferenceCallback(',
        '    members=(x_train, y_train), non_members=(x_test, y_test),',
        '    log_dir="logs/run1")',
        'model.fit(x_train, y_train, validation_data=(x_val, y_val),',
        '          callbacks=[mia, keras.callbacks.TensorBoard("logs/run1")])',
      ].join('\n')),
      el('p', {}, 'Then start TensorBoard with ',
          el('code', {},
              'tensorboard --logdir logs --samples_per_plugin=keras_mia=0'),
          ' and reload this page.'));
}

function errorBox(error) {
  return el('div', {class: 'kmia-error', role: 'alert'},
      `Could not load privacy data: ${error.message}`);
}

function controls(onChange) {
  const metric = el('select', {id: 'kmia-metric', 'aria-label': 'Metric'});
  for (const [value, label] of Object.entries(METRIC_LABELS)) {
    const option = el('option', {value}, label);
    option.selected = value === state.metric;
    metric.appendChild(option);
  }
  metric.addEventListener('change', () => {
    state.metric = metric.value;
    onChange();
  });
  const topK = el('select', {id: 'kmia-topk', 'aria-label': 'Records shown'});
  for (const k of [5, 10, 20, 50]) {
    const option = el('option', {value: k}, `top ${k}`);
    option.selected = k === state.topK;
    topK.appendChild(option);
  }
  topK.addEventListener('change', () => {
    state.topK = Number(topK.value);
    onChange();
  });
  const refresh = el('button', {type: 'button', id: 'kmia-refresh'}, 'Refresh');
  refresh.addEventListener('click', () => start());
  return el('div', {class: 'kmia-controls'},
      el('label', {}, 'Leakage metric ', metric),
      el('label', {}, 'Riskiest members ', topK), refresh);
}

function runPicker(onChange) {
  const box = el('div', {class: 'kmia-runs'});
  const byExperiment = new Map();
  for (const run of state.runs) {
    if (!byExperiment.has(run.experiment)) byExperiment.set(run.experiment, []);
    byExperiment.get(run.experiment).push(run);
  }
  for (const [experiment, runs] of byExperiment) {
    const group = el('div', {class: 'kmia-run-group'},
        el('span', {class: 'kmia-experiment'}, experiment));
    for (const run of runs) {
      const input = el('input', {type: 'checkbox', 'data-run': run.run});
      input.checked = state.selected.has(run.run);
      input.addEventListener('change', () => {
        if (input.checked) state.selected.add(run.run);
        else state.selected.delete(run.run);
        onChange();
      });
      group.appendChild(el('label', {class: 'kmia-run-choice'}, input,
          el('span', {class: 'kmia-run-name'}, run.run)));
    }
    box.appendChild(group);
  }
  return box;
}

function gateBudget(gate, metric) {
  if (!gate) return null;
  const monitor = gate.monitor || gate.metric;
  const budget = gate.budget ?? gate.threshold ?? gate.max_value;
  if (typeof budget !== 'number' || typeof monitor !== 'string') return null;
  const name = monitor.replace(/^mia[/_]/, '');
  if (name !== metric && !name.endsWith(`/${metric}`)) return null;
  return {y: budget, label: `budget (${monitor})`, color: '#d32f2f',
    kind: 'budget'};
}

function toEpochs(points) {
  return points.map(([s, v]) => [epochOf(s), v]);
}

function leakageChart(leakage, step) {
  const metric = state.metric;
  const series = [];
  Object.keys(leakage.attacks).sort().forEach((attack, i) => {
    const points = leakage.attacks[attack][metric];
    if (!points) return;
    series.push({
      name: attack, points: toEpochs(points), color: attackColor(attack, i),
      markers: true,
    });
  });
  if (leakage.headline[metric]) {
    series.push({
      name: 'max over attacks', points: toEpochs(leakage.headline[metric]),
      color: HEADLINE_COLOR, width: 2.6, markers: true,
    });
  }
  const budget = gateBudget(leakage.gate, metric);
  const events = [];
  const gate = leakage.gate || {};
  if (Number.isInteger(gate.stopped_epoch)) {
    events.push({x: epochOf(gate.stopped_epoch), label: 'gate stopped',
      kind: 'stopped'});
  }
  if (Number.isInteger(gate.restored_epoch)) {
    events.push({x: epochOf(gate.restored_epoch), label: 'restored',
      kind: 'restored'});
  }
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  if (budget) values.push(budget.y);
  const epochs = series.flatMap((s) => s.points.map((p) => p[0]));
  return lineChart({
    chart: 'leakage',
    title: `Leakage: ${metricLabel(metric)}`,
    xLabel: 'epoch',
    xInteger: true,
    yLabel: metricLabel(metric),
    xDomain: epochDomain(epochs),
    width: 320,
    yDomain: extent(values, 0.1),
    series,
    hlines: budget ? [budget] : [],
    events,
    vline: step === null ? null : epochOf(step),
  });
}

function epochDomain(epochs) {
  if (!epochs.length) return [0, 1];
  const lo = Math.min(...epochs);
  const hi = Math.max(...epochs);
  return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
}

function lossChart(leakage, step) {
  const colors = {train: '#ff7043', validation: '#0097a7'};
  const series = Object.entries(leakage.loss).map(([name, points]) => ({
    name, points: toEpochs(points), color: colors[name] || '#757575',
    markers: points.length < 40,
  }));
  const epochs = series.flatMap((s) => s.points.map((p) => p[0]));
  if (!series.length) {
    return el('figure', {class: 'kmia-figure kmia-missing', 'data-chart': 'loss'},
        el('figcaption', {}, 'Loss'),
        el('p', {}, 'No epoch_loss in sibling train/validation runs.'));
  }
  return lineChart({
    chart: 'loss',
    title: 'Loss (Keras epoch_loss)',
    xLabel: 'epoch',
    xInteger: true,
    yLabel: 'loss',
    xDomain: epochDomain(epochs),
    width: 320,
    yDomain: extent(series.flatMap((s) => s.points.map((p) => p[1])), 0.1),
    series,
    vline: step === null ? null : epochOf(step),
  });
}

function riskTrendChart(leakage, step) {
  const lines = [
    ['mia/risk/mean_member', 'members', MEMBER_COLOR],
    ['mia/risk/mean_non_member', 'non-members', NON_MEMBER_COLOR],
  ];
  const series = lines.filter(([tag]) => leakage.other[tag]).map(
      ([tag, name, color]) => ({
        name, points: toEpochs(leakage.other[tag]), color, markers: true,
      }));
  if (!series.length) return null;
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  return lineChart({
    chart: 'risk-trend',
    title: 'Mean risk score',
    xLabel: 'epoch',
    xInteger: true,
    yLabel: 'mean risk score',
    xDomain: epochDomain(series.flatMap((s) => s.points.map((p) => p[0]))),
    yDomain: extent(values, 0.1),
    width: 320,
    series,
    vline: step === null ? null : epochOf(step),
  });
}

function rocCharts(roc, run) {
  const series = roc.curves.map((curve, i) => ({
    name: curve.attack,
    label: `${curve.attack} (AUC ${fmt(curve.auc, 3)})`,
    points: curve.fpr.map((f, j) => [f, curve.tpr[j]]),
    color: attackColor(curve.attack, i),
  }));
  // Below one false positive (1 / n_non_members) the curve carries no
  // information, so the log-log view starts at that decade.
  const nNonMembers = (run.config || {}).n_non_members;
  const fprFloor = Number.isFinite(nNonMembers) && nNonMembers > 0 ?
      1 / nNonMembers : 1e-5;
  const floor = (values) => {
    const min = values.length ? Math.min(...values) : 1e-3;
    return Math.max(1e-5, 10 ** Math.floor(Math.log10(min) + 1e-9));
  };
  const fprs = roc.curves.flatMap((c) => c.fpr).filter(
      (v) => v !== null && v >= fprFloor);
  const tprs = roc.curves.flatMap((c) => c.tpr.filter(
      (v, j) => v !== null && v > 0 && c.fpr[j] >= fprFloor));
  const linear = lineChart({
    chart: 'roc-linear', title: 'ROC (linear)', xLabel: 'false-positive rate',
    yLabel: 'true-positive rate', xDomain: [0, 1], yDomain: [0, 1],
    series, diagonal: true, width: 300, height: 260, legend: false,
  });
  const log = lineChart({
    chart: 'roc-log', title: 'ROC (log-log)', xLabel: 'false-positive rate',
    yLabel: 'true-positive rate', xScale: 'log', yScale: 'log',
    xDomain: [floor(fprs), 1], yDomain: [floor(tprs), 1],
    series, diagonal: true, width: 300, height: 260, legend: false,
  });
  const legend = el('div', {class: 'kmia-legend'});
  for (const item of series) {
    legend.appendChild(el('span', {class: 'kmia-legend-item'},
        el('span', {class: 'kmia-swatch', style: `background:${item.color}`}),
        item.label));
  }
  return el('div', {class: 'kmia-roc', 'data-curves': series.length},
      el('div', {class: 'kmia-row'}, linear, log), legend);
}

function gateLine(gate) {
  if (!gate || typeof gate.summary !== 'string') return null;
  return el('p', {class: 'kmia-gate'}, gate.summary);
}

function distributionChart(distributions) {
  if (!distributions.members.length && !distributions.non_members.length) {
    return el('figure',
        {class: 'kmia-figure kmia-missing', 'data-chart': 'risk'},
        el('figcaption', {}, 'Risk scores'),
        el('p', {}, 'No risk-score histograms at this epoch.'));
  }
  return histogramChart({
    chart: 'risk',
    title: 'Risk scores: members vs non-members',
    width: 380,
    height: 260,
    xLabel: 'risk score (higher = more likely a member)',
    yLabel: 'share of records',
    series: [
      {name: 'members', buckets: distributions.members, color: MEMBER_COLOR},
      {
        name: 'non-members', buckets: distributions.non_members,
        color: NON_MEMBER_COLOR,
      },
    ],
  });
}

function recordsTable(records, step) {
  if (!records.records.length) {
    return el('p', {class: 'kmia-missing'},
        'No per-record scores were written for this run.');
  }
  const head = el('tr', {},
      ['#', 'record id', 'class', 'risk score', 'over epochs', 'change'].map(
          (name) => el('th', {}, name)));
  const body = el('tbody');
  for (const record of records.records) {
    const first = record.history.find(([, v]) => v !== null);
    const change = first && record.score !== null ?
        record.score - first[1] : null;
    const label = record.label === null ? 'n/a' :
        record.class_name === null ? String(record.label) :
        `${record.class_name} (${record.label})`;
    body.appendChild(el('tr', {'data-rank': record.rank},
        el('td', {class: 'num'}, String(record.rank)),
        el('td', {class: 'kmia-id'}, record.id),
        el('td', {}, label),
        el('td', {class: 'num', 'data-value': record.score}, fmt(record.score)),
        el('td', {}, sparkline(record.history, step)),
        el('td', {class: 'num'}, fmtSigned(change))));
  }
  return el('table', {class: 'kmia-records'},
      el('caption', {},
          `Riskiest ${records.records.length} of ${records.n_records} ` +
          `members at epoch ${epochOf(step)}`),
      el('thead', {}, head), body);
}

function summaryLine(leakage, step) {
  const line = el('div', {class: 'kmia-summary', 'data-step': step});
  line.appendChild(el('span', {class: 'kmia-summary-title'},
      `Epoch ${epochOf(step)}`));
  for (const metric of Object.keys(METRIC_LABELS)) {
    const points = leakage.headline[metric];
    const point = points && points.find(([s]) => s === step);
    if (!point) continue;
    line.appendChild(el('span', {
      class: 'kmia-stat', 'data-metric': metric, 'data-value': point[1],
    }, el('span', {class: 'kmia-stat-label'}, metricLabel(metric)),
    el('span', {class: 'kmia-stat-value'}, fmt(point[1]))));
  }
  return line;
}

function configLine(run) {
  const config = run.config || {};
  const parts = [];
  for (const key of ['threshold_source', 'n_members', 'n_non_members',
    'eval_freq', 'attacks']) {
    if (config[key] === undefined || config[key] === null) continue;
    const value = Array.isArray(config[key]) ? config[key].join(', ') :
        String(config[key]);
    parts.push(el('span', {class: 'kmia-config-item'},
        el('span', {class: 'kmia-config-key'}, key.replace(/_/g, ' ')),
        value));
  }
  if (run.gate) {
    const monitor = run.gate.monitor || run.gate.metric;
    const budget = run.gate.budget ?? run.gate.threshold;
    parts.push(el('span', {class: 'kmia-config-item'},
        el('span', {class: 'kmia-config-key'}, 'gate'),
        `${monitor ?? '?'} \u2264 ${budget ?? '?'}`));
  }
  return el('div', {class: 'kmia-config'}, parts);
}

async function renderRunCard(card, run) {
  clear(card);
  card.appendChild(el('header', {class: 'kmia-card-head'},
      el('h2', {class: 'kmia-card-title'}, run.experiment),
      el('span', {class: 'kmia-card-run'}, run.run)));
  card.appendChild(configLine(run));
  const gate = gateLine(run.gate);
  if (gate) card.appendChild(gate);
  const status = el('p', {class: 'kmia-loading'}, 'Loading\u2026');
  card.appendChild(status);
  let leakage;
  try {
    leakage = await getJson('leakage', {run: run.run});
  } catch (error) {
    status.replaceWith(errorBox(error));
    return;
  }
  status.remove();
  const steps = run.steps;
  if (!state.steps.has(run.run) || !steps.includes(state.steps.get(run.run))) {
    state.steps.set(run.run, steps.length ? steps[steps.length - 1] : null);
  }
  const step = state.steps.get(run.run);
  card.appendChild(el('div', {class: 'kmia-row'},
      leakageChart(leakage, step), lossChart(leakage, step),
      riskTrendChart(leakage, step)));
  if (step === null) {
    card.appendChild(el('p', {class: 'kmia-missing'},
        'No evaluation has been written yet.'));
    return;
  }

  const slider = el('input', {
    type: 'range', min: 0, max: steps.length - 1, step: 1,
    value: steps.indexOf(step), class: 'kmia-epoch',
    'aria-label': 'Evaluation epoch',
  });
  const sliderLabel = el('span', {class: 'kmia-epoch-label'},
      `epoch ${epochOf(step)} (evaluation ${steps.indexOf(step) + 1} of ${
          steps.length})`);
  slider.addEventListener('input', () => {
    const chosen = steps[Number(slider.value)];
    sliderLabel.textContent = `epoch ${epochOf(chosen)} (evaluation ${
        Number(slider.value) + 1} of ${steps.length})`;
  });
  slider.addEventListener('change', () => {
    state.steps.set(run.run, steps[Number(slider.value)]);
    renderRunCard(card, run);
  });
  card.appendChild(el('div', {class: 'kmia-epoch-row'},
      el('span', {}, 'Selected evaluation'), slider, sliderLabel));
  card.appendChild(summaryLine(leakage, step));

  const detail = el('div', {class: 'kmia-detail'},
      el('p', {class: 'kmia-loading'}, 'Loading\u2026'));
  card.appendChild(detail);
  try {
    const params = {run: run.run, step};
    const [roc, distributions, records] = await Promise.all([
      getJson('roc', params),
      getJson('distributions', params),
      getJson('records', Object.assign({k: state.topK}, params)),
    ]);
    clear(detail);
    detail.appendChild(el('div', {class: 'kmia-row'},
        rocCharts(roc, run), distributionChart(distributions)));
    detail.appendChild(recordsTable(records, step));
  } catch (error) {
    clear(detail);
    detail.appendChild(errorBox(error));
  }
}

async function renderComparison(container, runs) {
  clear(container);
  if (runs.length < 2) return;
  const metric = state.metric;
  const results = await Promise.all(runs.map(
      (run) => getJson('leakage', {run: run.run}).catch(() => null)));
  const series = [];
  results.forEach((leakage, i) => {
    if (!leakage || !leakage.headline[metric]) return;
    series.push({
      name: runs[i].run, points: toEpochs(leakage.headline[metric]),
      color: PALETTE[i % PALETTE.length], markers: true, width: 2,
    });
  });
  if (!series.length) return;
  container.appendChild(lineChart({
    chart: 'compare',
    title: `Runs side by side: ${metricLabel(metric)} (max over attacks)`,
    xLabel: 'epoch', xInteger: true, yLabel: metricLabel(metric),
    xDomain: epochDomain(series.flatMap((s) => s.points.map((p) => p[0]))),
    yDomain: extent(series.flatMap((s) => s.points.map((p) => p[1])), 0.1),
    series, width: 640, height: 240,
  }));
}

function renderRuns(main) {
  clear(main);
  const chosen = state.runs.filter((r) => state.selected.has(r.run));
  if (!chosen.length) {
    main.appendChild(el('p', {class: 'kmia-missing'},
        'Select a run above to see its leakage.'));
    return;
  }
  const comparison = el('section', {class: 'kmia-compare'});
  main.appendChild(comparison);
  renderComparison(comparison, chosen);
  const grid = el('div', {class: 'kmia-grid'});
  main.appendChild(grid);
  for (const run of chosen) {
    const card = el('article', {class: 'kmia-card', 'data-run': run.run});
    grid.appendChild(card);
    renderRunCard(card, run);
  }
}

let appRoot = null;

async function start() {
  clear(appRoot);
  appRoot.appendChild(el('p', {class: 'kmia-loading'}, 'Loading\u2026'));
  let listing;
  try {
    listing = await getJson('runs');
  } catch (error) {
    clear(appRoot);
    appRoot.appendChild(errorBox(error));
    return;
  }
  clear(appRoot);
  state.runs = listing.runs;
  const known = new Set(state.runs.map((r) => r.run));
  state.selected = new Set([...state.selected].filter((r) => known.has(r)));
  if (!state.selected.size) {
    state.runs.slice(0, MAX_DEFAULT_RUNS).forEach(
        (r) => state.selected.add(r.run));
  }
  if (!state.runs.length) {
    appRoot.appendChild(emptyState());
    return;
  }
  const main = el('main', {class: 'kmia-main'});
  const rerender = () => renderRuns(main);
  appRoot.appendChild(el('header', {class: 'kmia-top'},
      el('h1', {}, 'Membership-inference leakage'), controls(rerender)));
  appRoot.appendChild(runPicker(rerender));
  appRoot.appendChild(main);
  rerender();
}

/** Entry point called by TensorBoard's plugin iframe. */
export async function render() {
  const link = el('link', {rel: 'stylesheet', href: 'style.css'});
  document.head.appendChild(link);
  appRoot = el('div', {class: 'kmia', id: 'kmia-root'});
  document.body.appendChild(appRoot);
  await start();
}
