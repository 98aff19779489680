// SLA due times on a ticket: the next one that matters ("First response due in 25 min",
// "Resolution overdue by 2 h"), styled as a warning within the warning time and as an
// alarm once breached, kept current by live events and a local timer.
import { api } from './api.js';
import { h } from './dom.js';
import { t, getLang, formatDateTime } from './i18n.js';

/** Warning time of a policy not (yet) read: the policies' default. */
const DEFAULT_WARN_MS = 15 * 60 * 1000;
/** Each policy's warning time in ms, by policy id. */
let warnTimes = new Map();

/** Reads the policies' warning times (at sign-in and after every re-sync). */
export async function loadSlaPolicies() {
  const policies = await api.get('/sla-policies');
  warnTimes = new Map((policies || []).map((p) => [p.id, p.warn_minutes * 60 * 1000]));
}
const ACTIVE = new Set(['new', 'open', 'pending']);

/** Due times the server warned about (`ticketId:metric` → due time in ms). */
const warned = new Map();
/** Breaches the server reported before the ticket's JSON caught up (`ticketId:metric`). */
const breached = new Set();

/** Records a live `sla_warning` or `sla_breached` event. */
export function applySlaEvent(message) {
  const key = `${message.ticket_id}:${message.metric}`;
  if (message.type === 'sla_warning') warned.set(key, Date.parse(message.due_at));
  if (message.type === 'sla_breached') breached.add(key);
}

/**
 * The clock a ticket shows: the first response until there is one, then the
 * resolution; null when no clock runs (no policy, resolved or closed).
 */
export function slaClock(ticket, now = Date.now()) {
  if (!ticket || !ACTIVE.has(ticket.status)) return null;
  let metric = null;
  if (!ticket.first_response_at && ticket.first_response_due_at) metric = 'first_response';
  else if (ticket.resolution_due_at) metric = 'resolution';
  if (!metric) return null;
  const due = Date.parse(ticket[`${metric}_due_at`]);
  if (Number.isNaN(due)) return null;
  const key = `${ticket.id}:${metric}`;
  // A paused clock stands still: its due time is frozen, so it is late only if it was
  // due before the pause began, not once the frozen due time passes.
  const pausedAt = ticket.sla_paused_at ? Date.parse(ticket.sla_paused_at) : NaN;
  const stoppedAt = Number.isNaN(pausedAt) ? now : pausedAt;
  const late = ticket[`${metric}_breached`] === true || breached.has(key) || due <= stoppedAt;
  const paused = Boolean(ticket.sla_paused_at) && !late;
  const warnFor = warnTimes.get(ticket.sla_policy_id) ?? DEFAULT_WARN_MS;
  const warnAt = warned.get(key) === due ? -Infinity : due - warnFor;
  const state = late ? 'breached' : paused ? 'paused' : now >= warnAt ? 'warn' : 'ok';
  return { metric, due, state };
}

/** "25 min", "2 hr", "3 days" in the current language. */
function span(ms) {
  const minutes = Math.max(1, Math.round(Math.abs(ms) / 60000));
  const [value, unit] = minutes < 90 ? [minutes, 'minute']
    : minutes < 48 * 60 ? [Math.round(minutes / 60), 'hour']
      : [Math.round(minutes / 1440), 'day'];
  return new Intl.NumberFormat(getLang(), { style: 'unit', unit, unitDisplay: 'short' }).format(value);
}

/** The words for a clock. */
export function slaText(clock, now = Date.now()) {
  if (clock.state === 'paused') return t('sla.paused');
  const late = clock.state === 'breached';
  return t(`sla.${clock.metric}.${late ? 'overdue' : 'due'}`, { time: span(clock.due - now) });
}

/** A badge for a ticket's clock, or null; `data-sla` lets a timer refresh it in place. */
export function slaBadge(ticket, now = Date.now()) {
  const clock = slaClock(ticket, now);
  if (!clock) return null;
  return h('span', {
    class: `badge sla sla-${clock.state}`,
    dataset: { sla: ticket.id },
    title: t('sla.dueAt', { date: formatDateTime(new Date(clock.due)) }),
    text: slaText(clock, now),
  });
}

/** Brings the badges under `root` up to date with the clock; `find` gives a ticket by id. */
export function refreshSlaBadges(root, find, now = Date.now()) {
  for (const el of root.querySelectorAll('[data-sla]')) {
    const fresh = slaBadge(find(Number(el.dataset.sla)), now);
    if (fresh) el.replaceWith(fresh);
    else el.remove();
  }
}
