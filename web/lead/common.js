// Pieces the lead views share: labelled filter controls, the link into the console,
// and number formats for durations and shares.
import { guard, h } from '../console/dom.js';
import { getLang, label } from '../console/i18n.js';
import { directory } from '../console/state.js';
import { lt } from './strings.js';

/** The channels a ticket can come from (the desk's `Channel` words). */
export const CHANNELS = ['email', 'chat', 'whatsapp', 'telegram', 'sms', 'voice', 'api'];

/** Where the console opens a ticket (its router reads `#ticket/{id}`). */
export const ticketHref = (id) => `/#ticket/${encodeURIComponent(id)}`;

/** A labelled `<select>`: `options` are `[value, text]` pairs, an empty value means "all". */
export function selectField(id, name, text, options, value) {
  return h('div', { class: 'field compact' },
    h('label', { for: id, text }),
    h('select', { id, name },
      options.map(([v, optionText]) => h('option', { value: v, selected: String(v) === String(value ?? ''), text: optionText }))));
}

/** A labelled date input (YYYY-MM-DD). */
export function dateField(id, name, text, value) {
  return h('div', { class: 'field compact' },
    h('label', { for: id, text }),
    h('input', { id, name, type: 'date', value: value || '' }));
}

export function teamOptions() {
  const teams = [...directory.teams.values()].sort((a, b) => a.name.localeCompare(b.name));
  return [['', lt('common.all')], ...teams.map((team) => [String(team.id), team.name])];
}

export function agentOptions(empty = lt('common.all')) {
  const agents = [...directory.agents.values()].sort((a, b) => (a.name || a.email).localeCompare(b.name || b.email));
  return [['', empty], ...agents.map((a) => [String(a.id), a.name || a.email])];
}

export function channelOptions() {
  return [['', lt('common.all')], ...CHANNELS.map((c) => [c, label('channel', c)])];
}

/** The form's non-empty values as an object of strings. */
/** A view's filter form: a change or a submit takes its values as `view.filters` and
 *  reloads the view. */
export function filterForm(view) {
  const apply = () => {
    view.filters = formValues(form);
    return view.reload();
  };
  const form = h('form', {
    class: 'filters',
    onsubmit: (e) => { e.preventDefault(); guard(view, apply()); },
    onchange: () => guard(view, apply()),
  });
  return form;
}

export function formValues(form) {
  const values = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (value !== '') values[key] = String(value);
  }
  return values;
}

/** Seconds as hours with one decimal ("1.5 h" / "1,5 h"); empty for no data. */
export function formatHours(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return lt('common.none');
  const hours = Number(seconds) / 3600;
  return `${new Intl.NumberFormat(getLang(), { maximumFractionDigits: 1, minimumFractionDigits: 1 }).format(hours)} h`;
}

/** A ratio 0..1 as a percentage. */
export function formatPercent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(Number(ratio))) return lt('common.none');
  return new Intl.NumberFormat(getLang(), { style: 'percent', maximumFractionDigits: 1 }).format(Number(ratio));
}

/** A plain number in the current language; a dash for no data. */
export function formatValue(value) {
  if (value === null || value === undefined) return lt('common.none');
  if (typeof value === 'number') return new Intl.NumberFormat(getLang(), { maximumFractionDigits: 2 }).format(value);
  return String(value);
}

/** A duration in seconds as "2 d 3 h", "3 h 5 min" or "12 min". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return lt('common.none');
  const s = Math.max(0, Number(seconds));
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const min = Math.round((s % 3600) / 60);
  if (d) return `${d} d ${hrs} h`;
  if (hrs) return `${hrs} h ${min} min`;
  return `${min} min`;
}
