// <sb-reports>: the lead's reports (volume, backlog, times, SLA, CSAT, agents, teams)
// for a period, team and channel: an SVG chart with a data table beside it, and each
// report as a CSV download.
import { api, query } from '../console/api.js';
import { h, report as reportError, rerender } from '../console/dom.js';
import { getLang, label, onLangChange } from '../console/i18n.js';
import { directoryChanges } from '../console/state.js';
import { lt } from './strings.js';
import { chart } from './chart.js';
import { channelOptions, dateField, filterForm, formatHours, formatPercent, formatValue, selectField, teamOptions } from './common.js';

const REPORTS = ['volume', 'backlog', 'times', 'sla', 'csat', 'agents', 'teams'];
const SECONDS = new Set(['first_response_median', 'first_response_p90', 'resolution_median', 'resolution_p90']);
const RATIOS = new Set(['compliance', 'csat']);
const HIDDEN = new Set(['agent_id', 'team_id']);
const MAX_DAYS = 400;

/** Every UTC day from `from` to `to` (YYYY-MM-DD), both included. */
export function daysBetween(from, to) {
  const days = [];
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  if (Number.isNaN(start) || Number.isNaN(end)) return days;
  for (let t = start; t <= end && days.length < MAX_DAYS; t += 86400000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

function dayLabel(day, style = 'medium') {
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return String(day);
  const options = style === 'short' ? { month: 'short', day: 'numeric', timeZone: 'UTC' } : { dateStyle: 'medium', timeZone: 'UTC' };
  return new Intl.DateTimeFormat(getLang(), options).format(date);
}

/** A report's rows as objects keyed by its columns. */
function records(data) {
  return (data.rows || []).map((row) => Object.fromEntries(data.columns.map((c, i) => [c, row[i]])));
}

/** One value per day for `key` (null where the report has no row or no value). */
function perDay(days, rows, key, scale = 1) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  return days.map((d) => {
    const r = byDay.get(d);
    const v = r ? r[key] : null;
    return v === null || v === undefined ? null : Number(v) * scale;
  });
}

function cell(column, value) {
  if (column === 'day') return dayLabel(value);
  if (column === 'channel') return label('channel', value);
  if (SECONDS.has(column)) return formatHours(value);
  if (RATIOS.has(column)) return formatPercent(value);
  return formatValue(value);
}

const pct = (v) => `${new Intl.NumberFormat(getLang(), { maximumFractionDigits: 0 }).format(v)} %`;
const hours = (v) => new Intl.NumberFormat(getLang(), { maximumFractionDigits: 2 }).format(v);
const count = (v) => new Intl.NumberFormat(getLang(), { maximumFractionDigits: 1 }).format(v);

/** The chart of one report, or null when it has nothing to draw. */
function drawChart(name, data) {
  const rows = records(data);
  const days = daysBetween(data.from, data.to);
  const title = lt(`report.${name}`);
  const desc = lt(`report.${name}.desc`);
  const common = { x: days, title, desc, xLabel: lt('reports.day'), xFormat: (d) => dayLabel(d, 'short') };
  const some = (series) => series.some((se) => se.values.some((v) => v !== null && v !== 0));
  let spec = null;
  if (name === 'volume') {
    const channels = [...new Set(rows.map((r) => r.channel))].sort();
    const series = channels.map((c) => ({
      name: label('channel', c),
      values: days.map((d) => rows.filter((r) => r.day === d && r.channel === c).reduce((n, r) => n + Number(r.tickets || 0), 0)),
    }));
    spec = { ...common, kind: 'stacked', series, yLabel: lt('reports.tickets'), format: count };
  } else if (name === 'backlog') {
    const series = ['open', 'created', 'resolved'].map((key) => ({ name: lt(`col.${key}`), values: perDay(days, rows, key) }));
    spec = { ...common, kind: 'lines', series, yLabel: lt('reports.tickets'), format: count };
  } else if (name === 'times') {
    // Minutes for short times, hours from two hours up.
    const longest = Math.max(0, ...rows.flatMap((r) => [...SECONDS].map((key) => Number(r[key]) || 0)));
    const unit = longest < 7200 ? 60 : 3600;
    const series = [...SECONDS].map((key) => ({ name: lt(`col.${key}`), values: perDay(days, rows, key, 1 / unit) }));
    spec = { ...common, kind: 'lines', series, yLabel: lt(unit === 60 ? 'reports.minutes' : 'reports.hours'), format: hours };
  } else if (name === 'sla') {
    const series = [{ name: lt('col.compliance'), values: perDay(days, rows, 'compliance', 100) }];
    spec = { ...common, kind: 'lines', series, yLabel: lt('reports.percent'), format: pct, maxY: 100 };
  } else if (name === 'csat') {
    const series = [{ name: lt('col.csat'), values: perDay(days, rows, 'csat', 100) }];
    spec = { ...common, kind: 'bars', series, yLabel: lt('reports.percent'), format: pct, maxY: 100 };
  }
  if (!spec || !some(spec.series)) {
    // Compliance or CSAT of exactly 0 % is data too.
    if (!spec || !spec.series.some((se) => se.values.some((v) => v !== null))) return null;
  }
  const totals = days.map((_, i) => (spec.kind === 'stacked'
    ? spec.series.reduce((n, se) => n + (se.values[i] || 0), 0)
    : Math.max(...spec.series.map((se) => se.values[i] ?? 0))));
  const summary = lt('chart.summary', { points: days.length, from: dayLabel(data.from), to: dayLabel(data.to), max: spec.format(Math.max(0, ...totals)) });
  return chart({ ...spec, desc: `${desc} ${summary}` });
}

function table(name, data, caption) {
  const columns = data.columns.filter((c) => !HIDDEN.has(c));
  return h('table', { class: 'report-table', dataset: { report: name } },
    h('caption', { class: caption ? '' : 'visually-hidden', text: caption || lt(`report.${name}`) }),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', text: lt(`col.${c}`) })))),
    h('tbody', {}, records(data).map((r) => h('tr', { dataset: { key: r[columns[0]] ?? '' } }, columns.map((c, i) => (i === 0
      ? h('th', { scope: 'row', text: cell(c, r[c]) })
      : h('td', { class: typeof r[c] === 'number' || r[c] === null ? 'num' : '', text: cell(c, r[c]) })))))));
}

class SbReports extends HTMLElement {
  constructor() {
    super();
    this.filters = {};
    this.data = new Map();
    this.failed = new Map();
    this.loaded = false;
    this.busy = false;
    this.generation = 0;
  }

  connectedCallback() {
    if (this.form) return;
    this.heading = h('h1', { class: 'view-title', id: 'reports-heading' });
    this.form = filterForm(this);
    this.status = h('p', { class: 'muted list-status', role: 'status' });
    this.sections = h('div', { class: 'reports' });
    this.replaceChildren(this.heading, this.form, this.status, this.sections);
    onLangChange(() => this.render());
    directoryChanges.addEventListener('change', () => this.renderForm());
    this.render();
  }

  async show() {
    if (!this.loaded) await this.reload();
  }

  async reload() {
    this.generation += 1;
    const generation = this.generation;
    this.busy = true;
    this.status.textContent = lt('common.loading');
    const results = await Promise.allSettled(REPORTS.map((name) => api.get(`/reports/${name}${query(this.filters)}`)));
    if (generation !== this.generation) return;
    this.busy = false;
    this.loaded = true;
    this.data.clear();
    this.failed.clear();
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') this.data.set(REPORTS[i], r.value);
      else this.failed.set(REPORTS[i], r.reason);
    });
    const forbidden = [...this.failed.values()].find((e) => e && (e.status === 401 || e.status === 403));
    if (forbidden) throw forbidden;
    // A bad filter (say, from after to) is one message, not seven.
    const bad = [...this.failed.values()].find((e) => e && e.status === 400);
    if (bad) reportError(this, bad);
    // The server's period (its defaults) fills empty date fields.
    const first = this.data.values().next().value;
    if (first) this.period = { from: first.from, to: first.to };
    this.render();
  }

  render() {
    if (!this.form) return;
    this.heading.textContent = lt('reports.heading');
    this.renderForm();
    this.status.textContent = this.busy ? lt('common.loading') : '';
    if (!this.loaded) return;
    this.sections.replaceChildren(...REPORTS.map((name) => this.renderReport(name)));
  }

  renderForm() {
    if (!this.form) return;
    const f = { ...(this.period || {}), ...this.filters };
    this.form.setAttribute('aria-label', lt('common.filters'));
    rerender(this.form, () => [
      dateField('rp-from', 'from', lt('common.from'), f.from),
      dateField('rp-to', 'to', lt('common.to'), f.to),
      selectField('rp-team', 'team', lt('common.team'), teamOptions(), f.team),
      selectField('rp-channel', 'channel', lt('common.channel'), channelOptions(), f.channel),
      h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'primary', text: lt('common.apply') })),
    ]);
  }

  renderReport(name) {
    const titleId = `report-${name}-title`;
    const data = this.data.get(name);
    const error = this.failed.get(name);
    const title = lt(`report.${name}`);
    const head = h('div', { class: 'report-head' },
      h('h2', { class: 'section-title', id: titleId, text: title }),
      data ? h('a', {
        class: 'csv-link',
        href: `/api/v1/reports/${encodeURIComponent(name)}${query({ ...this.filters, from: data.from, to: data.to, format: 'csv' })}`,
        download: `${name}-${data.from}-${data.to}.csv`,
        'aria-label': lt('reports.downloadLabel', { report: title }),
        text: lt('reports.download'),
      }) : null);
    const section = h('section', { class: `report report-${name}`, 'aria-labelledby': titleId, dataset: { report: name } },
      head, h('p', { class: 'muted report-desc', text: lt(`report.${name}.desc`) }));
    if (!data) {
      section.append(h('p', { class: 'form-error', text: error ? error.userMessage || String(error.message || error) : '' }));
      return section;
    }
    if (!data.rows || !data.rows.length) {
      section.append(h('p', { class: 'no-data muted', text: lt('reports.noData') }));
      return section;
    }
    if (name === 'agents' || name === 'teams') {
      section.append(h('div', { class: 'table-scroll' }, table(name, data)));
      return section;
    }
    const drawn = drawChart(name, data);
    if (!drawn) {
      section.append(h('p', { class: 'no-data muted', text: lt('reports.noData') }));
      return section;
    }
    section.append(h('figure', { class: 'chart-box' }, drawn.svg, drawn.legend),
      h('details', { class: 'chart-table' },
        h('summary', { text: lt('reports.showTable') }),
        h('div', { class: 'table-scroll' }, table(name, data, lt('reports.table')))));
    return section;
  }
}

customElements.define('sb-reports', SbReports);
