// The caller log <sb-calllog>: recent calls, newest first, with the caller, the times and
// the call-back ticket of a missed call; kept current by the live call events.
import { api, query } from './api.js';
import { h, guard } from './dom.js';
import { t, onLangChange } from './i18n.js';
import {
  callStatusBadge, callTime, contactName, customerNumber, directionMark, formatDuration,
  phoneLink, showContact, talkingSeconds, ticketNumber, waitingSeconds,
} from './call.js';

const PAGE = 50;

class SbCallLog extends HTMLElement {
  constructor() {
    super();
    /** Calls per page; tests make it small to page. */
    this.pageSize = PAGE;
    this.items = new Map();
    this.names = new Map();
    this.numbers = new Map();
    this.seq = 0;
    this.loaded = false;
    this.loading = false;
    this.failed = false;
    this.hasMore = false;
    this.rerender = () => this.render();
  }

  connectedCallback() {
    if (!this.table) this.build();
    this.unlisten = onLangChange(this.rerender);
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
  }

  build() {
    this.heading = h('h2', { class: 'calllog-title', id: 'calllog-title', tabindex: '-1' });
    this.refreshButton = h('button', { type: 'button', class: 'ghost small calllog-refresh', onclick: () => guard(this, this.load()) });
    this.head = h('thead');
    this.body = h('tbody');
    this.table = h('table', { class: 'calllog-table', 'aria-labelledby': 'calllog-title' }, this.head, this.body);
    this.empty = h('p', { class: 'calllog-empty muted', role: 'status' });
    this.more = h('button', { type: 'button', class: 'load-more ghost calllog-more', onclick: () => guard(this, this.failed ? this.load() : this.loadMore()) });
    this.replaceChildren(
      h('div', { class: 'calllog-top' }, this.heading, this.refreshButton),
      h('div', { class: 'calllog-scroll' }, this.table, this.empty, this.more));
  }

  /** Shown: reads the newest page. */
  open() {
    if (this.heading && !this.contains(document.activeElement)) this.heading.focus({ preventScroll: true });
    return this.load();
  }

  reload() {
    return this.hidden || !this.loaded ? Promise.resolve() : this.load();
  }

  async load() {
    const seq = ++this.seq;
    this.loading = true;
    this.render();
    try {
      const page = await api.get(`/calls${query({ limit: this.pageSize })}`);
      if (seq !== this.seq) return;
      const list = Array.isArray(page) ? page : [];
      this.items = new Map(list.map((call) => [call.id, call]));
      // Names and numbers are asked again (from the shared cache, which live events keep current).
      this.names = new Map();
      this.numbers = new Map();
      this.hasMore = list.length >= this.pageSize;
      this.loaded = true;
      this.failed = false;
    } catch (error) {
      if (seq === this.seq) this.failed = true;
      throw error;
    } finally {
      if (seq === this.seq) {
        this.loading = false;
        this.render();
      }
    }
  }

  async loadMore() {
    const seq = this.seq;
    const oldest = Math.min(...this.items.keys());
    if (!Number.isFinite(oldest)) return;
    this.more.disabled = true;
    try {
      const page = await api.get(`/calls${query({ limit: this.pageSize, before: oldest })}`);
      if (seq !== this.seq) return;
      const list = Array.isArray(page) ? page : [];
      for (const call of list) this.items.set(call.id, call);
      this.hasMore = list.length >= this.pageSize;
    } finally {
      this.more.disabled = false;
      this.render();
    }
  }

  /** A live call event: the row updates, a new call goes on top. */
  applyCall(call) {
    if (!this.loaded || !call || !call.id) return;
    const known = this.items.get(call.id);
    const newest = Math.max(0, ...this.items.keys());
    if (!known && call.id < newest) return; // an old call outside what is listed
    // Live events carry no durations: computed from the times instead.
    this.items.set(call.id, { ...known, ...call, waiting_seconds: undefined, talking_seconds: undefined });
    this.render();
  }

  render() {
    if (!this.table) return;
    this.heading.textContent = t('calllog.title');
    this.refreshButton.textContent = t('calllog.refresh');
    const col = (key, className) => h('th', { scope: 'col', class: className, text: t(key) });
    this.head.replaceChildren(h('tr', {},
      col('calllog.time', 'col-time'), col('calllog.number', 'col-number'),
      col('calllog.contact', 'col-contact'), col('calllog.status', 'col-status'), col('calllog.waiting', 'col-duration'),
      col('calllog.talking', 'col-duration'), col('calllog.ticket', 'col-ticket')));
    const calls = [...this.items.values()].sort((a, b) => b.id - a.id);
    this.body.replaceChildren(...calls.map((call) => this.row(call)));
    this.table.hidden = calls.length === 0;
    this.table.setAttribute('aria-busy', String(this.loading));
    const failed = this.failed && !this.loading;
    this.empty.hidden = calls.length > 0 && !failed;
    this.empty.className = failed ? 'calllog-empty form-error' : 'calllog-empty muted';
    this.empty.textContent = failed ? t('calllog.failed') : this.loaded ? t('calllog.empty') : t('calllog.loading');
    this.more.hidden = !(failed || (this.loaded && this.hasMore));
    this.more.textContent = failed ? t('app.retry') : t('queue.loadMore');
    this.fillNames(calls);
  }

  row(call) {
    const name = call.contact_id ? this.nameOf(call) : null; // '' once read: a contact without a name
    const number = call.ticket_id ? this.numberOf(call) : null;
    return h('tr', { class: 'calllog-row', dataset: { callId: call.id, status: call.status } },
      h('td', { class: 'col-time' }, callTime(call.started_at)),
      h('td', { class: 'col-number' }, directionMark(call.direction), ' ', phoneLink(customerNumber(call))),
      h('td', { class: 'col-contact' }, name !== null
        ? h('button', {
          type: 'button', class: 'link-button calllog-contact', dataset: { contactId: call.contact_id },
          title: t('calllog.showContact', { name: name || t('contact.unknown') }), text: name || t('contact.unknown'),
          onclick: () => showContact(this, call.contact_id),
        })
        : h('span', { class: 'muted', text: '—' })),
      h('td', { class: 'col-status' }, callStatusBadge(call.status)),
      h('td', { class: 'col-duration col-waiting', text: formatDuration(waitingSeconds(call)) || '—' }),
      h('td', { class: 'col-duration col-talking', text: formatDuration(talkingSeconds(call)) || '—' }),
      h('td', { class: 'col-ticket' }, call.ticket_id
        ? h('a', { class: 'calllog-ticket', href: `#ticket/${call.ticket_id}`, dataset: { ticketId: call.ticket_id }, text: number ? `#${number}` : t('call.callbackLoading') })
        : null));
  }

  /** The contact's name: from the server when it sends one, else read once per contact. */
  nameOf(call) {
    if (call.contact_name) return call.contact_name;
    return this.names.has(call.contact_id) ? this.names.get(call.contact_id) : null;
  }

  numberOf(call) {
    if (call.ticket_number) return call.ticket_number;
    return this.numbers.get(call.ticket_id) || null;
  }

  /** Reads the names and ticket numbers the rows still lack, then shows them. */
  fillNames(calls) {
    const names = [...new Set(calls.filter((c) => c.contact_id && !c.contact_name && !this.names.has(c.contact_id)).map((c) => c.contact_id))];
    const numbers = [...new Set(calls.filter((c) => c.ticket_id && !c.ticket_number && !this.numbers.has(c.ticket_id)).map((c) => c.ticket_id))];
    if (!names.length && !numbers.length) return;
    // Marked as asked, so a render while these load does not ask again.
    for (const id of names) this.names.set(id, null);
    for (const id of numbers) this.numbers.set(id, null);
    Promise.all([
      ...names.map((id) => contactName(id).then((name) => this.names.set(id, name || ''))),
      ...numbers.map((id) => ticketNumber(id).then((n) => this.numbers.set(id, n))),
    ]).then(() => this.render());
  }
}

customElements.define('sb-calllog', SbCallLog);
