// The left column: queue views with live counts and the newest-first list of their tickets.
import { api, query } from './api.js';
import { fill, h, announce, debounce, guard, reconcile } from './dom.js';
import { t, label, formatDateTime, formatNumber, formatRelative, onLangChange } from './i18n.js';
import { agentName, directory, directoryChanges, myId } from './state.js';
import { refreshSlaBadges, slaBadge } from './sla.js';

export const CHANNELS = ['email', 'chat', 'whatsapp', 'telegram', 'sms', 'voice', 'api'];
const VIEWS = ['unassigned', 'mine', 'teams', 'open'];
const ACTIVE = new Set(['new', 'open', 'pending']);
const PAGE = 50;

function stored(key, fallback) {
  try { return localStorage.getItem(key) || fallback; } catch { return fallback; }
}
function store(key, value) {
  try { localStorage.setItem(key, value); } catch { /* storage may be off */ }
}

export function badge(kind, value) {
  return h('span', { class: `badge ${kind} ${kind}-${value}`, text: label(kind, value) });
}

class SbQueue extends HTMLElement {
  constructor() {
    super();
    this.view = stored('sb.view', 'unassigned');
    this.channel = stored('sb.channel', '');
    if (this.view === 'channel' ? !CHANNELS.includes(this.channel) : !VIEWS.includes(this.view)) this.view = 'unassigned';
    this.items = new Map();
    this.sources = [];
    this.counts = null;
    this.selectedId = null;
    this.cursorId = null;
    this.fresh = new Set();
    this.rows = new Map();
    this.seq = 0;
    this.loading = false;
    this.loaded = false;
    this.failed = false;
    this.refreshCounts = debounce(() => guard(this, this.loadCounts()), 300);
    this.rerender = () => this.render();
  }

  connectedCallback() {
    if (!this.list) this.build();
    this.unlisten = onLangChange(this.rerender);
    directoryChanges.addEventListener('change', this.rerender);
    this.clock = setInterval(() => this.updateTimes(), 30000);
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
    directoryChanges.removeEventListener('change', this.rerender);
    clearInterval(this.clock);
    this.refreshCounts.cancel();
  }

  build() {
    this.viewButtons = new Map(VIEWS.map((view) => [view, h('button', {
      type: 'button', class: 'view-button', dataset: { view }, onclick: () => this.setView(view),
    })]));
    this.channelLabel = h('label', { for: 'queue-channel', class: 'channel-label' });
    this.channelSelect = h('select', {
      id: 'queue-channel', name: 'channel',
      onchange: (e) => (e.target.value ? this.setView('channel', e.target.value) : null),
    });
    this.heading = h('h2', { class: 'queue-title', id: 'queue-title' });
    this.list = h('ul', { class: 'queue-list', 'aria-labelledby': 'queue-title', onkeydown: (e) => this.listKey(e) });
    this.empty = h('p', { class: 'queue-empty muted' });
    this.more = h('button', { type: 'button', class: 'load-more ghost', onclick: () => guard(this, this.failed ? this.load() : this.loadMore()) });
    this.replaceChildren(
      h('div', { class: 'queue-views', role: 'group', 'aria-labelledby': 'queue-views-label' },
        h('h2', { class: 'visually-hidden', id: 'queue-views-label' }),
        [...this.viewButtons.values()],
        h('div', { class: 'channel-picker' }, this.channelLabel, this.channelSelect)),
      this.heading, this.list, this.empty, this.more);
  }

  /** The API queries that make up the current view (several for "my teams"). */
  queries() {
    const base = { status: 'active', limit: PAGE };
    switch (this.view) {
      case 'unassigned': return [{ ...base, assignee: 'none' }];
      case 'mine': return [{ ...base, assignee: 'me' }];
      case 'teams': return directory.teamIds.map((team) => ({ ...base, team }));
      case 'channel': return [{ ...base, channel: this.channel }];
      default: return [base];
    }
  }

  /** Would this ticket be listed in the current view? */
  matches(ticket) {
    if (!ACTIVE.has(ticket.status)) return false;
    switch (this.view) {
      case 'unassigned': return ticket.assignee_id === null || ticket.assignee_id === undefined;
      case 'mine': return ticket.assignee_id === myId();
      case 'teams': return directory.teamIds.includes(ticket.team_id);
      case 'channel': return ticket.channel === this.channel;
      default: return true;
    }
  }

  setView(view, channel = '') {
    if (view === this.view && channel === (view === 'channel' ? this.channel : '')) return;
    this.view = view;
    if (view === 'channel') this.channel = channel;
    store('sb.view', view);
    store('sb.channel', this.channel);
    this.items = new Map();
    this.sources = [];
    this.cursorId = null;
    this.loaded = false;
    this.failed = false;
    this.render();
    guard(this, this.load());
  }

  /** (Re)reads the first page of the current view. */
  async load() {
    const seq = ++this.seq;
    this.loading = true;
    this.render();
    try {
      const queries = this.queries();
      const pages = await Promise.all(queries.map((q) => api.get(`/tickets${query(q)}`)));
      if (seq !== this.seq) return;
      const items = new Map();
      this.sources = queries.map((q, i) => this.source(q, pages[i], items));
      // Keep tickets that arrived live while the request was under way.
      const newest = Math.max(0, ...items.keys());
      for (const [id, ticket] of this.items) if (id > newest && this.matches(ticket)) items.set(id, ticket);
      this.items = items;
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

  source(q, page, items) {
    const list = Array.isArray(page && page.items) ? page.items : [];
    for (const ticket of list) items.set(ticket.id, ticket);
    return { q, next: page ? page.next : null, lastId: list.length ? list[list.length - 1].id : 0 };
  }

  async loadMore() {
    const seq = this.seq;
    const open = this.sources.filter((s) => s.next);
    if (!open.length) return;
    this.more.disabled = true;
    try {
      const pages = await Promise.all(open.map((s) => api.get(`/tickets${query({ ...s.q, cursor: s.next })}`)));
      if (seq !== this.seq) return;
      open.forEach((s, i) => {
        const fresh = this.source(s.q, pages[i], this.items);
        s.next = fresh.next;
        if (fresh.lastId) s.lastId = fresh.lastId;
      });
    } finally {
      this.more.disabled = false;
      this.render();
    }
  }

  /** Tickets older than this may be missing until the next page is loaded. */
  cutoff() {
    return this.sources.filter((s) => s.next).reduce((max, s) => Math.max(max, s.lastId), 0);
  }

  visible() {
    const cutoff = this.cutoff();
    return [...this.items.values()].filter((ticket) => ticket.id >= cutoff).sort((a, b) => b.id - a.id);
  }

  async loadCounts() {
    this.counts = await api.get('/tickets/counts');
    this.renderCounts();
  }

  /** A ticket was created or changed (live event or our own action). */
  applyTicket(ticket, created = false) {
    if (!ticket || !ticket.id) return;
    if (this.matches(ticket)) this.items.set(ticket.id, ticket);
    else this.items.delete(ticket.id);
    if (created) {
      if (ticket.id !== this.selectedId) this.fresh.add(ticket.id);
      announce(this, t('announce.new', { number: ticket.number, subject: ticket.subject }));
    }
    this.refreshCounts();
    this.renderRows();
  }

  applyMessage(ticketId, message) {
    const ticket = this.items.get(ticketId);
    if (!ticket || !message) return;
    if (message.direction !== 'note' && Date.parse(message.created_at) > (Date.parse(ticket.last_message_at) || 0)) {
      this.items.set(ticketId, { ...ticket, last_message_at: message.created_at });
    }
    if (message.direction === 'in' && ticketId !== this.selectedId) this.fresh.add(ticketId);
    this.renderRows();
  }

  select(id) {
    this.selectedId = id;
    if (id) {
      this.fresh.delete(id);
      this.cursorId = id;
    }
    this.renderRows();
  }

  /** j/k: moves the keyboard cursor and focus through the list. */
  move(delta) {
    const ids = this.visible().map((ticket) => ticket.id);
    if (!ids.length) return;
    const at = ids.indexOf(this.cursorId ?? this.selectedId);
    let next;
    if (delta === Infinity) next = ids.length - 1;
    else if (delta === -Infinity || at < 0) next = 0;
    else next = Math.min(ids.length - 1, Math.max(0, at + delta));
    this.cursorId = ids[next];
    this.renderRows();
    const row = this.rows.get(this.cursorId);
    if (row) {
      row.link.focus();
      row.link.scrollIntoView({ block: 'nearest' });
    }
  }

  openCursor() {
    const id = this.cursorId ?? (this.visible()[0] || {}).id;
    if (id) location.hash = `#ticket/${id}`;
  }

  render() {
    if (!this.list) return;
    this.querySelector('#queue-views-label').textContent = t('queue.views');
    this.channelLabel.textContent = t('view.channel');
    this.renderCounts();
    this.renderRows();
  }

  renderCounts() {
    const counts = this.counts || {};
    const keys = { unassigned: 'unassigned', mine: 'mine', teams: 'my_teams', open: 'open' };
    for (const [view, button] of this.viewButtons) {
      const n = counts[keys[view]];
      button.setAttribute('aria-pressed', String(this.view === view));
      button.replaceChildren(
        h('span', { class: 'view-name', text: t(`view.${view}`) }),
        h('span', { class: 'count', text: n === undefined ? '' : formatNumber(n) }));
    }
    const channels = counts.channels || {};
    const options = [h('option', { value: '', text: t('queue.chooseChannel') })].concat(CHANNELS.map((c) =>
      h('option', { value: c, text: channels[c] ? `${label('channel', c)} (${formatNumber(channels[c])})` : label('channel', c) })));
    this.channelSelect.replaceChildren(...options);
    this.channelSelect.value = this.view === 'channel' ? this.channel : '';
    this.channelSelect.classList.toggle('is-active', this.view === 'channel');
    const name = this.view === 'channel' ? `${t('view.channel')}: ${label('channel', this.channel)}` : t(`view.${this.view}`);
    const key = { unassigned: 'unassigned', mine: 'mine', teams: 'my_teams', open: 'open' }[this.view];
    const n = this.view === 'channel' ? channels[this.channel] || 0 : counts[key];
    fill(this.heading, h('span', { text: name }),
      n === undefined ? '' : h('span', { class: 'count', 'aria-label': t('queue.count', { count: n }), text: formatNumber(n) }));
  }

  renderRows() {
    if (!this.list) return;
    const visible = this.visible();
    const keep = new Map();
    const nodes = visible.map((ticket) => {
      const row = this.rows.get(ticket.id) || this.makeRow(ticket.id);
      this.fillRow(row, ticket);
      keep.set(ticket.id, row);
      return row.item;
    });
    this.rows = keep;
    this.markCursor();
    reconcile(this.list, nodes);
    this.empty.hidden = visible.length > 0;
    const failed = this.failed && !this.loading;
    this.empty.textContent = failed ? t('queue.failed') : this.loaded ? t('queue.empty') : t('queue.loading');
    this.more.hidden = !(failed || (this.loaded && this.sources.some((s) => s.next)));
    this.more.textContent = failed ? t('app.retry') : t('queue.loadMore');
    this.list.setAttribute('aria-busy', String(this.loading));
  }

  makeRow(id) {
    const link = h('a', { class: 'queue-item', href: `#ticket/${id}`, dataset: { ticketId: id } });
    link.addEventListener('focus', () => { this.cursorId = id; this.markCursor(); });
    return { item: h('li', {}, link), link };
  }

  /** Arrow keys, Home and End move through the list, like j and k. */
  listKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const moves = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };
    if (!(e.key in moves)) return;
    e.preventDefault();
    this.move(moves[e.key]);
  }

  /** The one row reachable with Tab (roving tabindex): the cursor, else the open ticket, else the first. */
  tabbableId() {
    if (this.rows.has(this.cursorId)) return this.cursorId;
    if (this.rows.has(this.selectedId)) return this.selectedId;
    const first = this.rows.keys().next();
    return first.done ? null : first.value;
  }

  markCursor() {
    const tabbable = this.tabbableId();
    for (const [id, row] of this.rows) {
      row.link.classList.toggle('is-cursor', id === this.cursorId && id !== this.selectedId);
      row.link.tabIndex = id === tabbable ? 0 : -1;
    }
  }

  fillRow(row, ticket) {
    const { link } = row;
    const selected = ticket.id === this.selectedId;
    link.classList.toggle('is-selected', selected);
    link.classList.toggle('is-cursor', ticket.id === this.cursorId && !selected);
    link.classList.toggle('is-fresh', this.fresh.has(ticket.id));
    if (selected) link.setAttribute('aria-current', 'true');
    else link.removeAttribute('aria-current');
    const showAssignee = this.view !== 'mine' && this.view !== 'unassigned' && ticket.assignee_id;
    fill(link,
      h('span', { class: 'qi-line' },
        h('span', { class: 'qi-number', text: `#${ticket.number}` }),
        badge('channel', ticket.channel),
        this.fresh.has(ticket.id) ? h('span', { class: 'fresh-dot', text: t('queue.fresh') }) : null,
        h('time', { class: 'qi-time', datetime: ticket.last_message_at, title: formatDateTime(ticket.last_message_at), text: formatRelative(ticket.last_message_at) })),
      h('span', { class: 'qi-subject', text: ticket.subject || t('ticket.noSubject') }),
      h('span', { class: 'qi-line' },
        badge('status', ticket.status),
        badge('priority', ticket.priority),
        slaBadge(ticket),
        showAssignee ? h('span', { class: 'qi-assignee', text: agentName(ticket.assignee_id) }) : null));
  }

  updateTimes() {
    for (const time of this.list.querySelectorAll('time.qi-time')) time.textContent = formatRelative(time.dateTime);
    refreshSlaBadges(this.list, (id) => this.items.get(id));
  }
}

customElements.define('sb-queue', SbQueue);
