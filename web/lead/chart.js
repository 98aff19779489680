// Charts for the reports, drawn as inline SVG with DOM calls only (no markup parsing, no
// inline styles: colours come from classes in lead.css). Every chart has a title, a
// description, axis labels and a legend.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 720;
const HEIGHT = 260;
const PAD = { top: 16, right: 16, bottom: 48, left: 64 };
let serial = 0;

/** Creates an SVG element with attributes and children. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key === 'style') throw new Error('s(): style is not allowed');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) el.append(child);
  return el;
}

/** A "nice" upper bound and step for an axis from 0 to `max`. */
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= raw) || raw;
  return { top: Math.ceil(max / step) * step, step };
}

/**
 * Draws a chart.
 * - `kind`: 'stacked' (bars summed per x), 'bars' (one series) or 'lines'
 * - `x`: the labels along the x axis (days), `series`: [{name, values: [number|null]}]
 * - `title`, `desc`, `xLabel`, `yLabel`, `format(value)` for ticks and tooltips
 */
export function chart({ kind, x, series, title, desc, xLabel, yLabel, format = String, xFormat = String, maxY = null }) {
  serial += 1;
  const id = `chart-${serial}`;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const totals = x.map((_, i) => (kind === 'stacked'
    ? series.reduce((sum, se) => sum + (Number(se.values[i]) || 0), 0)
    : Math.max(0, ...series.map((se) => Number(se.values[i]) || 0))));
  const { top, step } = niceScale(maxY ?? Math.max(0, ...totals));
  const yOf = (v) => PAD.top + plotH - (v / top) * plotH;
  const band = plotW / Math.max(1, x.length);
  const xOf = (i) => PAD.left + band * i + band / 2;

  const grid = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = yOf(v);
    grid.push(s('line', { class: 'grid', x1: PAD.left, x2: PAD.left + plotW, y1: y, y2: y }));
    grid.push(s('text', { class: 'tick', x: PAD.left - 6, y: y + 4, 'text-anchor': 'end', text: format(v) }));
  }
  const every = Math.max(1, Math.ceil(x.length / 8));
  // The last day always gets a label, unless the one before it is too close.
  const lastRegular = Math.floor((x.length - 1) / every) * every;
  const xTicks = x.map((label, i) => (i % every === 0 || (i === x.length - 1 && i - lastRegular >= every / 2)
    ? s('text', { class: 'tick', x: xOf(i), y: PAD.top + plotH + 16, 'text-anchor': 'middle', text: xFormat(label) })
    : null));

  const marks = [];
  if (kind === 'stacked' || kind === 'bars') {
    const barW = Math.max(1, band * 0.7);
    const base = x.map(() => 0);
    series.forEach((se, k) => {
      se.values.forEach((raw, i) => {
        const v = Number(raw) || 0;
        if (!v) return;
        const y0 = kind === 'stacked' ? base[i] : 0;
        const y1 = y0 + v;
        if (kind === 'stacked') base[i] = y1;
        marks.push(s('rect', {
          class: `bar series-${k % 8}`,
          x: xOf(i) - barW / 2,
          y: yOf(y1),
          width: barW,
          height: Math.max(0.5, yOf(y0) - yOf(y1)),
          'data-value': v,
        }, s('title', { text: `${xFormat(x[i])} · ${se.name}: ${format(v)}` })));
      });
    });
  } else {
    series.forEach((se, k) => {
      let d = '';
      let pen = false;
      se.values.forEach((raw, i) => {
        if (raw === null || raw === undefined || Number.isNaN(Number(raw))) {
          pen = false;
          return;
        }
        const v = Number(raw);
        d += `${pen ? 'L' : 'M'}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`;
        pen = true;
        marks.push(s('circle', { class: `dot series-${k % 8}`, cx: xOf(i), cy: yOf(v), r: 3, 'data-value': v },
          s('title', { text: `${xFormat(x[i])} · ${se.name}: ${format(v)}` })));
      });
      if (d) marks.unshift(s('path', { class: `line series-${k % 8}`, d, fill: 'none' }));
    });
  }

  const svg = s('svg', {
    class: `chart chart-${kind}`,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-labelledby': `${id}-title ${id}-desc`,
    preserveAspectRatio: 'xMidYMid meet',
  },
  s('title', { id: `${id}-title`, text: title }),
  s('desc', { id: `${id}-desc`, text: desc }),
  s('g', { class: 'grid-lines' }, grid),
  s('line', { class: 'axis', x1: PAD.left, x2: PAD.left + plotW, y1: PAD.top + plotH, y2: PAD.top + plotH }),
  s('line', { class: 'axis', x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: PAD.top + plotH }),
  s('g', { class: 'x-ticks' }, xTicks),
  s('g', { class: 'marks' }, marks),
  s('text', { class: 'axis-label', x: PAD.left + plotW / 2, y: HEIGHT - 8, 'text-anchor': 'middle', text: xLabel }),
  s('text', { class: 'axis-label', x: 14, y: PAD.top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${PAD.top + plotH / 2})`, text: yLabel }));

  const legend = document.createElement('ul');
  legend.className = 'legend';
  series.forEach((se, k) => {
    const item = document.createElement('li');
    const swatch = s('svg', { class: 'swatch', width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true' },
      s('rect', { class: `bar series-${k % 8}`, x: 0, y: 0, width: 12, height: 12, rx: 2 }));
    item.append(swatch, document.createTextNode(se.name));
    legend.append(item);
  });
  return { svg, legend };
}
