// Phone calls: the screen pop <sb-calls> (a card per ringing or current call, stacked on top
// of the middle column) and the helpers the caller log shares with it.
import { api, query } from './api.js';
import { h, announce, guard, rerender } from './dom.js';
import { t, label, formatDateTime, formatTime, onLangChange } from './i18n.js';
import { agentName, myId } from './state.js';
import { valueBlock, orderList, ticketList } from './contact.js';

/** Cards shown at once; beyond that the oldest (ended ones first) go. */
const MAX_CARDS = 5;
/** A ringing card not updated for this long is checked against the caller log (a
 * colleague may have answered: that event goes to them only); a current call's less often. */
const STALE_AFTER = 20000;
const STALE_TALKING_AFTER = 60000;
const CHECK_EVERY = 10000;
const ANNOUNCE_FOR = 10000;
const ENDED_UNANSWERED = new Set(['missed', 'busy']);

export const DIRECTION_ICONS = { in: '↙', out: '↗' };

/** The customer's number: the caller of an inbound call, the callee of an outbound one. */
export function customerNumber(call) {
  return call.direction === 'out' ? call.to_number : call.from_number;
}

function dialable(number) {
  return /^\+?[0-9][0-9 ()./-]{2,30}$/.test(String(number || '').trim());
}

/** A number as a `tel:` link, or as text when it is no phone number (an extension, "anonymous"). */
export function phoneLink(number, className = 'call-number') {
  const text = String(number || '').trim();
  if (!dialable(text)) {
    return h('span', { class: `${className} is-undialable`, text: /^(anonymous|unknown|private|restricted|)$/i.test(text) ? t('call.anonymous') : text });
  }
  return h('a', { class: className, href: `tel:${text.replace(/[^+0-9]/g, '')}`, text });
}

/** "0:42", "12:05", "1:02:03". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return '';
  const s = Math.max(0, Math.round(Number(seconds)));
  const two = (n) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${two(minutes)}:${two(s % 60)}` : `${minutes}:${two(s % 60)}`;
}

function seconds(from, to) {
  const a = Date.parse(from);
  const b = Date.parse(to);
  return Number.isNaN(a) || Number.isNaN(b) ? null : Math.max(0, Math.round((b - a) / 1000));
}

/** Seconds from the first ring to the answer (or the end); the server's figure when it sent one. */
export function waitingSeconds(call) {
  if (call.waiting_seconds !== undefined && call.waiting_seconds !== null) return call.waiting_seconds;
  const end = call.answered_at || call.ended_at;
  return end ? seconds(call.started_at, end) : null;
}

/** Seconds from the answer to the end. */
export function talkingSeconds(call) {
  if (call.talking_seconds !== undefined && call.talking_seconds !== null) return call.talking_seconds;
  return call.answered_at && call.ended_at ? seconds(call.answered_at, call.ended_at) : null;
}

export function callStatusBadge(status) {
  return h('span', { class: `badge call-status callstatus-${status}`, text: label('callstatus', status) });
}

/** The direction as an arrow, and in words (shown, or only for screen readers). */
export function directionMark(direction, { showText = false } = {}) {
  return h('span', { class: `call-direction direction-${direction}`, title: label('direction', direction) },
    h('span', { class: 'direction-icon', 'aria-hidden': 'true', text: DIRECTION_ICONS[direction] || '•' }),
    h('span', { class: showText ? 'direction-text' : 'visually-hidden', text: label('direction', direction) }));
}

/** Today's times alone, older ones with their date. */
export function callTime(value) {
  const d = new Date(value);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return h('time', { class: 'call-time', datetime: value, title: formatDateTime(value), text: sameDay ? formatTime(value) : formatDateTime(value) });
}

// Ticket numbers and contact names the call records only know by id, fetched once.
const ticketNumbers = new Map();
const contactNames = new Map();
const REMEMBERED = 2000;

function remember(map, id, value) {
  map.delete(id);
  map.set(id, value);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value);
}

export function rememberTicket(ticket) {
  if (ticket && ticket.id && ticket.number) remember(ticketNumbers, ticket.id, Promise.resolve(ticket.number));
}

export function rememberContact(contact) {
  if (contact && contact.id) remember(contactNames, contact.id, Promise.resolve(contact.name || null));
}

/** The number (#…) of a ticket, or null when it cannot be read. */
export function ticketNumber(id) {
  if (!ticketNumbers.has(id)) {
    const loading = api.get(`/tickets/${id}`).then((d) => d.ticket.number).catch(() => {
      ticketNumbers.delete(id);
      return null;
    });
    remember(ticketNumbers, id, loading);
  }
  return ticketNumbers.get(id);
}

/** The name of a contact (null when it has none or cannot be read). */
export function contactName(id) {
  if (!contactNames.has(id)) {
    const loading = api.get(`/contacts/${id}`).then((d) => d.contact.name || null).catch(() => {
      contactNames.delete(id);
      return null;
    });
    remember(contactNames, id, loading);
  }
  return contactNames.get(id);
}

/** Asks the app to show a contact in the right column. */
export function showContact(from, contactId, created = false) {
  from.dispatchEvent(new CustomEvent('sb-show-contact', { bubbles: true, detail: { contactId, created } }));
}

/** The card data the server sends, built from a contact's full record. */
function cardOf(detail) {
  return {
    contact: detail.contact,
    organization: detail.organization,
    identities: detail.identities,
    value: detail.value,
    orders: (detail.orders || []).slice(0, 3),
    open_tickets: (detail.tickets || []).filter((x) => ['new', 'open', 'pending'].includes(x.status)).slice(0, 5),
  };
}

class SbCalls extends HTMLElement {
  constructor() {
    super();
    /** call id → {call, card, el, busy, seen, number} */
    this.entries = new Map();
    this.rerender = () => { for (const entry of this.entries.values()) this.renderCard(entry); this.renderFrame(); };
  }

  connectedCallback() {
    if (!this.stack) this.build();
    this.unlisten = onLangChange(this.rerender);
    this.clock = setInterval(() => this.tick(), 1000);
    this.checker = setInterval(() => this.checkStale(), CHECK_EVERY);
    this.renderFrame();
  }

  disconnectedCallback() {
    this.unlisten();
    clearInterval(this.clock);
    clearInterval(this.checker);
  }

  build() {
    // Present (and empty) from the start, so that what is put in it is announced.
    this.alert = h('div', { class: 'visually-hidden call-alert', role: 'alert' });
    this.heading = h('h2', { class: 'visually-hidden', id: 'call-stack-title' });
    this.stack = h('section', { class: 'call-stack', 'aria-labelledby': 'call-stack-title' }, this.heading);
    this.replaceChildren(this.alert, this.stack);
  }

  renderFrame() {
    if (!this.stack) return;
    this.heading.textContent = t('call.stack');
    this.stack.hidden = this.entries.size === 0;
  }

  get count() {
    return this.entries.size;
  }

  /** A live call event: a new card, an updated one, or one that closes. */
  applyCall(call, card, { quiet = false } = {}) {
    if (!call || !call.id) return;
    if (card && card.contact) rememberContact(card.contact);
    const entry = this.entries.get(call.id);
    const ended = Boolean(call.ended_at);
    const elsewhere = call.status === 'talking' && call.agent_id && call.agent_id !== myId();
    if (!entry) {
      // Calls this console never showed ringing stay in the caller log only.
      if (ended || elsewhere || quiet) return;
      const fresh = { call, card: card || null, el: null, busy: false, seen: Date.now() };
      this.entries.set(call.id, fresh);
      this.renderCard(fresh);
      this.stack.insertBefore(fresh.el, this.heading.nextSibling);
      this.trim();
      this.renderFrame();
      // Screen readers hear who calls; an agent's own outgoing call needs no alert.
      if (call.direction !== 'out') this.say(t('call.incoming', { name: this.nameOf(fresh) }));
      return;
    }
    const wasEnded = Boolean(entry.call.ended_at);
    entry.call = { ...entry.call, ...call };
    if (card) entry.card = card;
    entry.seen = Date.now();
    if (elsewhere || (ended && !ENDED_UNANSWERED.has(call.status))) {
      this.dismiss(call.id);
      return;
    }
    this.renderCard(entry);
    if (ended && !wasEnded) this.say(t('call.missedFrom', { name: this.nameOf(entry) }));
  }

  nameOf(entry) {
    const contact = entry.card && entry.card.contact;
    if (contact && contact.name) return contact.name;
    const number = String(customerNumber(entry.call) || '').trim();
    return dialable(number) ? number : t('call.anonymous');
  }

  say(text) {
    const line = h('p', { text });
    this.alert.append(line);
    setTimeout(() => line.remove(), ANNOUNCE_FOR);
  }

  /** Keeps the stack to MAX_CARDS, dropping ended calls before ringing ones. */
  trim() {
    while (this.entries.size > MAX_CARDS) {
      const all = [...this.entries.values()];
      const victim = all.find((e) => e.call.ended_at) || all[0];
      this.dismiss(victim.call.id);
    }
  }

  /** Removes a card; focus that was in it goes to the next card, else the middle column. */
  dismiss(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    const hadFocus = Boolean(entry.el && entry.el.contains(document.activeElement));
    const next = entry.el && (entry.el.nextElementSibling || entry.el.previousElementSibling);
    this.entries.delete(id);
    if (entry.el) entry.el.remove();
    this.renderFrame();
    if (hadFocus) {
      const target = next && next.classList.contains('call-card') ? next : this.closest('main');
      if (target) target.focus();
    }
  }

  /** Escape outside a card: the newest card goes. True when there was one. */
  dismissNewest() {
    const first = this.stack && this.stack.querySelector('.call-card');
    if (!first) return false;
    this.dismiss(Number(first.dataset.callId));
    return true;
  }

  renderCard(entry) {
    if (!entry.el) {
      const id = entry.call.id;
      entry.el = h('article', {
        class: 'call-card', tabindex: '-1', dataset: { callId: id, pbxCallId: entry.call.call_id }, 'aria-labelledby': `call-title-${id}`,
        onkeydown: (e) => {
          if (e.key !== 'Escape' || e.defaultPrevented) return;
          e.preventDefault();
          this.dismiss(id);
        },
      });
    }
    entry.el.dataset.status = entry.call.status;
    entry.el.classList.toggle('is-ended', Boolean(entry.call.ended_at));
    rerender(entry.el, () => this.cardView(entry));
    this.tick();
  }

  cardView(entry) {
    const { call, card } = entry;
    const id = call.id;
    const name = this.nameOf(entry);
    const number = customerNumber(call);
    const known = Boolean(call.contact_id || (card && card.contact));
    const contactId = (card && card.contact && card.contact.id) || call.contact_id;
    const missed = call.ended_at && ENDED_UNANSWERED.has(call.status);
    const org = card && card.organization;
    const tickets = (card && card.open_tickets) || [];
    return [
      h('div', { class: 'call-head' },
        directionMark(call.direction, { showText: true }),
        callStatusBadge(call.status),
        call.ended_at ? null : h('span', { class: 'call-clock', title: t('call.started', { time: formatDateTime(call.started_at) }) }),
        call.queue ? h('span', { class: 'call-queue muted', text: t('call.queue', { queue: call.queue }) }) : null,
        call.agent_id && call.agent_id !== myId() ? h('span', { class: 'call-agent muted', text: agentName(call.agent_id) }) : null),
      h('h2', { class: 'call-name', id: `call-title-${id}`, text: name }),
      h('p', { class: 'call-line' },
        h('span', { class: 'visually-hidden', text: `${t('call.number')}: ` }),
        phoneLink(number),
        org && org.name ? h('span', { class: 'call-org', text: org.name }) : null),
      missed ? h('p', { class: 'call-missed' },
        h('span', { class: 'call-missed-text', text: t(call.status === 'busy' ? 'call.busyMissed' : 'call.missed') }),
        call.ticket_id ? this.callbackLink(entry) : null) : null,
      card
        ? h('div', { class: 'call-body' },
          h('div', { class: 'call-col call-value' }, valueBlock(card.value)),
          h('div', { class: 'call-col call-orders' },
            h('h3', { class: 'section-title', text: t('call.lastOrders') }),
            orderList(card.orders || [], { items: false })),
          h('div', { class: 'call-col call-open-tickets' },
            h('h3', { class: 'section-title', text: t('call.openTickets') }),
            tickets.length ? ticketList(tickets, 'earlier-tickets call-tickets') : h('p', { class: 'muted', text: t('call.noOpenTickets') })))
        : known ? null : h('p', { class: 'call-new muted', text: t('call.newCaller') }),
      h('div', { class: 'call-actions' },
        known
          ? h('button', { type: 'button', class: 'primary small call-open-contact', dataset: { focusKey: `open-${id}` }, text: t('call.openContact'), onclick: () => showContact(this, contactId) })
          : h('button', {
            type: 'button', class: 'primary small call-create-contact', dataset: { focusKey: `create-${id}` }, disabled: entry.busy || !dialable(number),
            text: entry.busy ? t('call.creating') : t('call.createContact'), onclick: () => guard(this, this.createContact(entry)),
          }),
        h('button', {
          type: 'button', class: 'small call-dismiss', dataset: { focusKey: `dismiss-${id}` }, 'aria-keyshortcuts': 'Escape',
          'aria-label': t('call.dismissLabel', { name }), text: t('call.dismiss'), onclick: () => this.dismiss(id),
        })),
    ];
  }

  callbackLink(entry) {
    const ticketId = entry.call.ticket_id;
    const link = h('a', { class: 'call-callback', href: `#ticket/${ticketId}`, dataset: { ticketId }, text: t('call.callbackLoading') });
    ticketNumber(ticketId).then((number) => {
      if (number && link.isConnected) link.textContent = t('call.callback', { number });
    });
    return link;
  }

  /** One click: the unknown caller's number becomes a contact, shown in the right column. */
  async createContact(entry) {
    if (entry.busy) return;
    const value = String(customerNumber(entry.call) || '').trim();
    entry.busy = true;
    this.renderCard(entry);
    let id;
    try {
      try {
        const contact = await api.post('/contacts', { identity: { kind: 'phone', value } });
        id = contact.id;
      } catch (error) {
        // Someone was quicker (a colleague, or the call-back ticket): show theirs.
        if (error.status !== 409) throw error;
        const found = await api.get(`/contacts/lookup${query({ phone: value })}`);
        id = found.contact.id;
      }
      const detail = await api.get(`/contacts/${id}`);
      entry.card = cardOf(detail);
      entry.call = { ...entry.call, contact_id: id };
      rememberContact(detail.contact);
    } finally {
      entry.busy = false;
      if (this.entries.get(entry.call.id) === entry) this.renderCard(entry);
    }
    announce(this, t('call.created', { number: value }));
    showContact(this, id, true);
  }

  /** The running time of a ringing (since the ring) or current call (since the answer). */
  tick() {
    const now = Date.now();
    for (const entry of this.entries.values()) {
      const clock = entry.el && entry.el.querySelector('.call-clock');
      if (!clock) continue;
      const since = Date.parse(entry.call.answered_at || entry.call.started_at);
      const text = Number.isNaN(since) ? '' : formatDuration((now - since) / 1000);
      if (clock.textContent !== text) clock.textContent = text;
    }
  }

  /** Cards nobody told us about for a while (answered by a colleague, a lost event). */
  checkStale() {
    const now = Date.now();
    const stale = [...this.entries.values()].some((e) => !e.call.ended_at
      && now - e.seen > (e.call.status === 'ringing' ? STALE_AFTER : STALE_TALKING_AFTER));
    if (stale) guard(this, this.refresh());
  }

  /** Brings every card up to date from the caller log (after a reconnect, or when stale). */
  async refresh() {
    if (!this.entries.size) return;
    // Asked now: a call too old for the page is not asked about again at once.
    for (const entry of this.entries.values()) entry.seen = Date.now();
    const calls = await api.get(`/calls${query({ limit: 50 })}`);
    for (const call of Array.isArray(calls) ? calls : []) {
      const entry = this.entries.get(call.id);
      if (!entry) continue;
      if (call.status !== entry.call.status || call.ended_at !== entry.call.ended_at || call.ticket_id !== entry.call.ticket_id) {
        this.applyCall(call, null, { quiet: true });
      }
    }
  }
}

customElements.define('sb-calls', SbCalls);
