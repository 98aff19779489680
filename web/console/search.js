// The search box <sb-search> in the header: finds tickets and contacts in the whole history
// as the agent types, with filters, and opens a result in one click or with Enter.
import { api, query } from './api.js';
import { h, announce, debounce, guard } from './dom.js';
import { t, label, formatDateTime, formatList, formatNumber, formatRelative, onLangChange } from './i18n.js';
import { CHANNELS, badge } from './queue.js';
import { showContact } from './call.js';

const PAGE = 20;
/** The server pages no further than this offset. */
const MAX_OFFSET = 1000;
const TYPING_PAUSE = 200;
const PERIODS = { week: 7, month: 30, year: 365 };

/** The filters, each a select: its values (the first is the default) and their words. */
const FILTERS = [
  {
    name: 'status',
    values: ['', 'active', 'new', 'open', 'pending', 'resolved', 'closed'],
    text: (v) => (!v ? t('search.status.any') : v === 'active' ? t('search.status.active') : label('status', v)),
  },
  { name: 'channel', values: ['', ...CHANNELS], text: (v) => (v ? label('channel', v) : t('search.channel.any')) },
  { name: 'assignee', values: ['', 'me', 'none'], text: (v) => t(`search.assignee.${v || 'any'}`) },
  { name: 'updated', values: ['', 'week', 'month', 'year'], text: (v) => t(`search.updated.${v || 'any'}`) },
  { name: 'sort', values: ['relevance', 'newest', 'oldest'], text: (v) => t(`search.sort.${v}`) },
];

/** A snippet from the server as text, its matched parts in <mark>; never read as HTML. */
export function snippet(parts, className) {
  const el = h('span', { class: className });
  for (const part of Array.isArray(parts) ? parts : []) {
    const text = part && part.text !== undefined && part.text !== null ? String(part.text) : '';
    if (text) el.append(part.mark ? h('mark', { text }) : document.createTextNode(text));
  }
  return el;
}

function isEmpty(parts) {
  return !Array.isArray(parts) || !parts.some((part) => part && part.text);
}

/** The day `days` ago, as the API takes it (2026-11-27). */
function daysAgo(days) {
  return new Date(Date.now() - days * 86400000).toISOString().slice(0, 10);
}

class SbSearch extends HTMLElement {
  constructor() {
    super();
    /** Tickets per page; tests make it small to page. */
    this.pageSize = PAGE;
    this.filters = Object.fromEntries(FILTERS.map((f) => [f.name, f.values[0]]));
    this.result = null;
    this.error = null;
    this.busy = false;
    this.runningKey = null;
    this.seq = 0;
    this.controller = null;
    this.options = [];
    this.activeKey = null;
    this.openFirst = false;
    this.returnTo = null;
    this.isOpen = false;
    this.schedule = debounce(() => guard(this, this.run()), TYPING_PAUSE);
    this.onOutside = (e) => {
      if (!this.contains(e.target)) this.close();
    };
    this.rerender = () => this.render();
  }

  connectedCallback() {
    if (!this.input) this.build();
    this.unlisten = onLangChange(this.rerender);
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
    this.cancel();
    this.close();
  }

  build() {
    this.label = h('label', { for: 'search-input', class: 'visually-hidden' });
    this.input = h('input', {
      id: 'search-input', name: 'search-q', type: 'search', autocomplete: 'off', spellcheck: 'false',
      role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': 'search-results',
      'aria-keyshortcuts': '/ Control+K',
      oninput: () => this.typed(),
      onkeydown: (e) => this.inputKey(e),
      onfocus: (e) => {
        // Escape goes back to where the agent was before the box.
        if (!this.isOpen) this.returnTo = e.relatedTarget;
        this.open();
      },
      onclick: () => this.open(),
    });
    this.selects = new Map(FILTERS.map((f) => [f.name, h('select', {
      id: `search-${f.name}`, name: `search-${f.name}`,
      onchange: (e) => this.setFilter(f.name, e.target.value),
    }, f.values.map((value) => h('option', { value })))]));
    this.labels = new Map(FILTERS.map((f) => [f.name, h('label', { for: `search-${f.name}` })]));
    this.clearButton = h('button', { type: 'button', class: 'ghost small search-clear', onclick: () => this.clearFilters() });
    this.filterBox = h('div', { class: 'search-filters', role: 'group', 'aria-labelledby': 'search-filters-label' },
      h('span', { class: 'visually-hidden', id: 'search-filters-label' }),
      FILTERS.map((f) => h('div', { class: `field compact search-filter search-filter-${f.name}` }, this.labels.get(f.name), this.selects.get(f.name))),
      this.clearButton);
    this.alert = h('div', { class: 'search-error', role: 'alert' });
    this.summary = h('p', { class: 'search-summary', role: 'status', 'aria-live': 'polite' });
    this.hint = h('p', { class: 'search-hint muted' });
    // Options are not focusable: a press on one must not take focus from the box.
    this.list = h('div', { class: 'search-results', id: 'search-results', role: 'listbox', onmousedown: (e) => e.preventDefault() });
    this.more = h('button', { type: 'button', class: 'ghost load-more search-more', onclick: () => guard(this, this.run({ more: true })) });
    this.panel = h('div', { class: 'search-panel', hidden: true },
      this.filterBox, this.alert, this.summary, this.hint, this.list, this.more);
    this.replaceChildren(
      h('div', { class: 'search-box', role: 'search' },
        this.label, this.input,
        h('kbd', { class: 'search-key', 'aria-hidden': 'true', text: '/' })),
      this.panel);
    this.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || e.defaultPrevented) return;
      e.preventDefault();
      this.dismiss();
    });
    this.addEventListener('focusout', (e) => {
      if (e.relatedTarget && !this.contains(e.relatedTarget)) this.close();
    });
  }

  /** The keyboard shortcut: into the box, its words selected so typing replaces them. */
  focusInput() {
    this.input.focus();
    this.input.select();
    this.open();
  }

  /** Shows the results; unless `refresh` is false, searches again (they may have changed meanwhile). */
  open({ refresh = true } = {}) {
    if (this.isOpen || !this.input) return;
    this.isOpen = true;
    this.panel.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', this.onOutside, true);
    if (refresh && this.searchable() && !this.busy) guard(this, this.run());
    else this.render();
  }

  close() {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.openFirst = false;
    this.panel.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', this.onOutside, true);
    this.setActive(null);
  }

  /** Escape: closes the results and puts focus back where the agent was. */
  dismiss() {
    this.close();
    const to = this.returnTo;
    this.returnTo = null;
    if (to && to.isConnected && typeof to.focus === 'function') to.focus();
    else if (this.contains(document.activeElement)) document.activeElement.blur();
  }

  /** What the API is asked: the words and the filters, defaults left out. */
  params() {
    const f = this.filters;
    return {
      q: this.input ? this.input.value.trim() : '',
      status: f.status,
      channel: f.channel,
      assignee: f.assignee,
      updated_from: PERIODS[f.updated] ? daysAgo(PERIODS[f.updated]) : '',
      sort: f.sort === 'relevance' ? '' : f.sort,
    };
  }

  key() {
    return JSON.stringify(this.params());
  }

  /** Words, or at least one filter: a search with neither would list every ticket. */
  searchable() {
    return Object.values(this.params()).some(Boolean);
  }

  /** The shown result answers what is in the box now. */
  current() {
    return Boolean(this.result && this.result.key === this.key());
  }

  typed() {
    this.open({ refresh: false });
    this.openFirst = false;
    if (this.searchable()) {
      this.schedule();
    } else {
      this.cancel();
      this.result = null;
      this.error = null;
      this.render();
    }
  }

  setFilter(name, value) {
    this.filters[name] = value;
    this.filtersChanged();
  }

  clearFilters() {
    for (const f of FILTERS) this.filters[f.name] = f.values[0];
    this.filtersChanged();
    this.input.focus();
  }

  filtersChanged() {
    this.openFirst = false;
    if (this.searchable()) {
      guard(this, this.run());
    } else {
      this.cancel();
      this.result = null;
      this.error = null;
      this.render();
    }
  }

  /** Forgets the request under way: its reply, if it still comes, is dropped. */
  cancel() {
    this.schedule.cancel();
    this.seq += 1;
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.busy = false;
    this.runningKey = null;
  }

  /** Searches now: the first page, or (`more`) the next page of tickets. */
  async run({ more = false } = {}) {
    const params = this.params();
    const key = JSON.stringify(params);
    if (!this.searchable() || (more && !this.current())) return;
    const offset = more ? this.result.tickets.length : 0;
    this.cancel();
    const controller = new AbortController();
    const seq = this.seq;
    this.controller = controller;
    this.busy = more ? 'more' : 'search';
    this.runningKey = key;
    // A new search says its own failure, if it fails: an alert shown anew is read anew.
    if (!more) this.error = null;
    this.render();
    let done = false;
    try {
      const reply = await api.get(`/search${query({ ...params, limit: this.pageSize, offset })}`, { signal: controller.signal });
      if (seq !== this.seq) return;
      const tickets = Array.isArray(reply && reply.tickets) ? reply.tickets : [];
      const total = Number(reply && reply.ticket_total) || 0;
      if (more) {
        const known = new Set(this.result.tickets.map((ticket) => ticket.id));
        this.result.tickets.push(...tickets.filter((ticket) => !known.has(ticket.id)));
        // A total that no page reaches any more (tickets changed meanwhile) ends the paging.
        this.result.total = tickets.length ? Math.max(total, this.result.tickets.length) : this.result.tickets.length;
      } else {
        this.result = {
          key,
          numberMatch: (reply && reply.number_match) || null,
          tickets,
          total,
          contacts: Array.isArray(reply && reply.contacts) ? reply.contacts : [],
        };
        this.activeKey = null;
      }
      this.error = null;
      done = true;
    } catch (error) {
      if (seq !== this.seq || (error && error.name === 'AbortError')) return;
      this.error = error;
      if (!more) this.result = null;
      this.openFirst = false;
    } finally {
      if (seq === this.seq) {
        this.busy = false;
        this.runningKey = null;
        this.controller = null;
        this.render();
        if (done && more) announce(this, t('search.loaded', { shown: formatNumber(this.result.tickets.length), total: formatNumber(this.result.total) }));
        if (done && this.openFirst) {
          this.openFirst = false;
          this.choose(0);
        }
      }
    }
  }

  inputKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
    switch (e.key) {
      case 'ArrowDown':
        this.open();
        this.move(1);
        break;
      case 'ArrowUp':
        this.open();
        this.move(-1);
        break;
      case 'Enter':
        this.enter();
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  /** Enter opens the selected result, else the first; typed ahead of the results, once they come. */
  enter() {
    if (this.current() && this.busy !== 'search') {
      const at = this.options.findIndex((o) => o.key === this.activeKey);
      this.choose(Math.max(0, at));
    } else if (this.searchable()) {
      this.openFirst = true;
      if (!(this.busy === 'search' && this.runningKey === this.key())) guard(this, this.run());
    }
  }

  /** Arrow keys: the next or previous result, round the end. */
  move(delta) {
    const n = this.options.length;
    if (!n) return;
    const at = this.options.findIndex((o) => o.key === this.activeKey);
    const from = at < 0 ? (delta > 0 ? -1 : 0) : at;
    this.setActive(this.options[(from + delta + n) % n].key);
  }

  setActive(key) {
    this.activeKey = key;
    let active = null;
    for (const option of this.options) {
      const on = option.key === key;
      option.el.setAttribute('aria-selected', String(on));
      option.el.classList.toggle('is-active', on);
      if (on) active = option.el;
    }
    if (active && this.isOpen) {
      this.input.setAttribute('aria-activedescendant', active.id);
      active.scrollIntoView({ block: 'nearest' });
    } else {
      this.input.removeAttribute('aria-activedescendant');
    }
  }

  /** Opens a result: a ticket in the middle column, a contact in the right one. */
  choose(index) {
    const option = this.options[index];
    if (!option) return;
    this.close();
    this.returnTo = null;
    if (option.ticketId) {
      location.hash = `#ticket/${option.ticketId}`;
      const main = document.getElementById('main');
      if (main) main.focus({ preventScroll: true });
    } else if (option.contactId) {
      showContact(this, option.contactId);
    }
  }

  render() {
    if (!this.input) return;
    this.label.textContent = t('search.label');
    this.input.placeholder = t('search.placeholder');
    this.querySelector('#search-filters-label').textContent = t('search.filters');
    for (const f of FILTERS) {
      this.labels.get(f.name).textContent = t(`search.${f.name}`);
      const select = this.selects.get(f.name);
      for (const option of select.options) option.textContent = f.text(option.value);
      select.value = this.filters[f.name];
      select.classList.toggle('is-active', this.filters[f.name] !== f.values[0]);
    }
    const filtered = FILTERS.some((f) => this.filters[f.name] !== f.values[0]);
    this.clearButton.textContent = t('search.clearFilters');
    this.clearButton.hidden = !filtered;
    this.list.setAttribute('aria-label', t('search.results'));
    if (this.isOpen) this.renderResults();
  }

  renderResults() {
    const searchable = this.searchable();
    // While the next search runs, the last results stay (dimmed) rather than flicker.
    const result = searchable && (this.current() || this.busy) ? this.result : null;
    this.hint.hidden = searchable;
    this.hint.textContent = t('search.hint');
    if (this.error) {
      this.alert.replaceChildren(
        h('span', { class: 'search-error-text', text: this.errorText(this.error) }),
        h('button', { type: 'button', class: 'ghost small search-retry', text: t('app.retry'), onclick: () => guard(this, this.run()) }));
    } else {
      this.alert.replaceChildren();
    }
    this.renderList(result);
    const summary = this.error ? '' : result ? this.summaryText(result) : searchable && this.busy ? t('search.searching') : '';
    if (this.summary.textContent !== summary) this.summary.textContent = summary;
    this.summary.hidden = !summary;
    this.list.setAttribute('aria-busy', String(this.busy === 'search'));
    this.list.classList.toggle('is-stale', Boolean(result) && !this.current());
    const shown = result ? result.tickets.length : 0;
    const hadFocus = document.activeElement === this.more;
    this.more.hidden = !(result && this.current() && shown < result.total && shown <= MAX_OFFSET);
    this.more.disabled = this.busy === 'more';
    this.more.textContent = this.busy === 'more' ? t('search.loading')
      : t('search.more', { shown: formatNumber(shown), total: formatNumber(result ? result.total : 0) });
    if (hadFocus && this.more.hidden) this.input.focus();
  }

  summaryText(result) {
    const parts = [];
    if (result.total) parts.push(t(result.total === 1 ? 'search.tickets.one' : 'search.tickets.many', { count: formatNumber(result.total) }));
    if (result.contacts.length) parts.push(t(result.contacts.length === 1 ? 'search.contacts.one' : 'search.contacts.many', { count: formatNumber(result.contacts.length) }));
    if (!parts.length) return result.numberMatch ? t('search.numberMatch', { number: result.numberMatch.number }) : t('search.none');
    return formatList(parts);
  }

  errorText(error) {
    const detail = String((error && (error.problem && error.problem.detail)) || (error && error.userMessage) || (error && error.message) || '');
    if (error && (error.code === 'search_unavailable' || error.status === 503)) {
      return t('search.unavailable', { detail: detail.replace(/^search is unavailable:\s*/i, '') });
    }
    if (error && error.status === 400) {
      return t('search.invalid', { detail: error.field ? `${error.field}: ${detail}` : detail });
    }
    return t('search.failed', { detail: error && error.userMessage ? error.userMessage : detail });
  }

  renderList(result) {
    const options = [];
    const option = (key, data, className, children) => {
      const index = options.length;
      const el = h('div', {
        role: 'option', id: `search-option-${key}`, class: `search-option ${className}`, 'aria-selected': 'false', dataset: data,
        onclick: () => this.choose(index),
      }, children);
      options.push({ key, el, ticketId: data.ticketId || null, contactId: data.contactId || null });
      return el;
    };
    const group = (name, title, items) => (items.length ? h('div', { role: 'group', class: `search-group search-group-${name}`, 'aria-labelledby': `search-group-${name}` },
      h('div', { role: 'presentation', class: 'search-group-title', id: `search-group-${name}`, text: title }),
      items) : null);
    const groups = [];
    if (result) {
      const match = result.numberMatch;
      if (match) {
        groups.push(group('number', t('search.byNumber'), [option(`n-${match.id}`, { ticketId: match.id }, 'search-number', [
          h('span', { class: 'qi-line' },
            h('span', { class: 'search-number-label', text: t('search.numberMatch', { number: match.number }) }),
            badge('status', match.status)),
          h('span', { class: 'search-subject', text: match.subject || t('ticket.noSubject') }),
        ])]));
      }
      groups.push(group('tickets', t('search.ticketsTitle'), result.tickets.map((ticket) => {
        const when = new Date(Number(ticket.updated_at) * 1000);
        return option(`t-${ticket.id}`, { ticketId: ticket.id }, 'search-ticket', [
          h('span', { class: 'qi-line' },
            h('span', { class: 'qi-number', text: `#${ticket.number}` }),
            badge('status', ticket.status),
            badge('channel', ticket.channel),
            ticket.contact_name ? h('span', { class: 'search-who', text: ticket.contact_name }) : null,
            h('time', { class: 'qi-time', datetime: when.toISOString(), title: formatDateTime(when), text: formatRelative(when) })),
          isEmpty(ticket.subject) ? h('span', { class: 'search-subject muted', text: t('ticket.noSubject') }) : snippet(ticket.subject, 'search-subject'),
          isEmpty(ticket.snippet) ? null : snippet(ticket.snippet, 'search-snippet'),
        ]);
      })));
      groups.push(group('contacts', t('search.contactsTitle'), result.contacts.map((contact) => {
        const numbers = Array.isArray(contact.order_numbers) ? contact.order_numbers : [];
        const identities = Array.isArray(contact.identities) ? contact.identities : [];
        return option(`c-${contact.id}`, { contactId: contact.id }, 'search-contact', [
          h('span', { class: 'qi-line' },
            isEmpty(contact.name) ? h('span', { class: 'search-name muted', text: t('contact.unknown') }) : snippet(contact.name, 'search-name'),
            contact.organization ? h('span', { class: 'search-org', text: contact.organization }) : null),
          identities.length || numbers.length
            ? h('span', { class: 'search-identities' },
              identities.length ? h('span', { class: 'search-ids', text: identities.join(' · ') }) : null,
              numbers.length ? h('span', { class: 'search-orders', text: t('search.orders', { numbers: numbers.join(', ') }) }) : null)
            : null,
        ]);
      })));
    }
    this.options = options;
    this.list.replaceChildren(...groups.filter(Boolean));
    this.list.hidden = !options.length;
    // The selection survives a re-render (a page loaded, the language changed) when its result is still there.
    this.setActive(options.some((o) => o.key === this.activeKey) ? this.activeKey : null);
  }
}

customElements.define('sb-search', SbSearch);
