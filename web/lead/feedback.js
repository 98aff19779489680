// <sb-feedback-stream>: every survey answer, complaint, praise and suggestion, newest
// first, filtered by rating, kind, team, agent, channel and period; each opens its
// ticket in the console; new feedback arrives live.
import { api, query } from '../console/api.js';
import { h, guard, rerender } from '../console/dom.js';
import { formatDateTime, label, onLangChange } from '../console/i18n.js';
import { agentName, directoryChanges, teamName } from '../console/state.js';
import { lt, word } from './strings.js';
import { agentOptions, channelOptions, dateField, filterForm, selectField, teamOptions, ticketHref } from './common.js';

const KINDS = ['survey', 'complaint', 'praise', 'suggestion'];
const PAGE = 50;

class SbFeedbackStream extends HTMLElement {
  constructor() {
    super();
    this.filters = {};
    this.items = [];
    this.nextCursor = null;
    this.loaded = false;
    this.busy = false;
    this.generation = 0;
  }

  connectedCallback() {
    if (this.form) return;
    this.form = filterForm(this);
    this.heading = h('h1', { class: 'view-title', id: 'feedback-heading' });
    this.status = h('p', { class: 'muted list-status', role: 'status' });
    this.list = h('ul', { class: 'feedback-list', 'aria-labelledby': 'feedback-heading' });
    this.more = h('div', { class: 'load-more-box' });
    this.replaceChildren(this.heading, this.form, this.status, this.list, this.more);
    onLangChange(() => this.render());
    directoryChanges.addEventListener('change', () => this.renderForm());
    this.render();
  }

  /** Called when the tab is shown: loads once, later views keep what is there. */
  async show() {
    if (!this.loaded) await this.reload();
  }

  async reload() {
    this.generation += 1;
    const generation = this.generation;
    this.busy = true;
    this.renderStatus();
    try {
      const page = await api.get(`/feedback${query({ ...this.filters, limit: PAGE })}`);
      if (generation !== this.generation) return;
      this.items = page.items || [];
      this.nextCursor = page.next_cursor || null;
      this.loaded = true;
    } finally {
      if (generation === this.generation) {
        this.busy = false;
        this.render();
      }
    }
  }

  async loadMore() {
    if (!this.nextCursor || this.busy) return;
    const generation = this.generation;
    this.busy = true;
    this.renderStatus();
    try {
      const page = await api.get(`/feedback${query({ ...this.filters, limit: PAGE, cursor: this.nextCursor })}`);
      if (generation !== this.generation) return;
      const known = new Set(this.items.map((i) => i.id));
      const fresh = (page.items || []).filter((i) => !known.has(i.id));
      this.items.push(...fresh);
      this.nextCursor = page.next_cursor || null;
      this.render();
      // Keyboard users continue at the first new item.
      const first = fresh.length && this.list.querySelector(`[data-id="${fresh[0].id}"] a.fb-ticket`);
      if (first) first.focus();
    } finally {
      if (generation === this.generation) {
        this.busy = false;
        this.renderStatus();
      }
    }
  }

  /** A `feedback_added` event: shown at the top when it matches the filters. */
  applyLive(item) {
    if (!this.loaded || !this.matches(item) || this.items.some((i) => i.id === item.id)) return;
    this.items.unshift(item);
    this.render();
    const node = this.list.querySelector(`[data-id="${item.id}"]`);
    if (node) node.classList.add('is-fresh');
  }

  /** A `feedback_updated` event (a changed survey answer): the item changes in place,
   *  or leaves the list when it no longer matches the filters. */
  applyUpdate(item) {
    if (!this.loaded) return;
    const at = this.items.findIndex((i) => i.id === item.id);
    if (at < 0) return;
    if (this.matches(item)) this.items[at] = item;
    else this.items.splice(at, 1);
    this.render();
  }

  matches(item) {
    const f = this.filters;
    const day = String(item.created_at || '').slice(0, 10);
    return (!f.rating || String(item.rating) === f.rating)
      && (!f.kind || item.kind === f.kind)
      && (!f.team || String(item.team_id) === f.team)
      && (!f.agent || String(item.assignee_id) === f.agent)
      && (!f.channel || item.channel === f.channel)
      && (!f.from || day >= f.from)
      && (!f.to || day <= f.to);
  }

  render() {
    if (!this.form) return;
    this.heading.textContent = lt('feedback.heading');
    this.renderForm();
    this.list.replaceChildren(...this.items.map((item) => this.renderItem(item)));
    this.renderStatus();
  }

  renderForm() {
    if (!this.form) return;
    const f = this.filters;
    this.form.setAttribute('aria-label', lt('common.filters'));
    rerender(this.form, () => [
      selectField('fb-rating', 'rating', lt('feedback.rating'), [['', lt('common.all')], ...[5, 4, 3, 2, 1].map((n) => [String(n), `${'★'.repeat(n)} (${n})`])], f.rating),
      selectField('fb-kind', 'kind', lt('feedback.kind'), [['', lt('common.all')], ...KINDS.map((k) => [k, word('fbkind', k)])], f.kind),
      selectField('fb-team', 'team', lt('common.team'), teamOptions(), f.team),
      selectField('fb-agent', 'agent', lt('common.agent'), agentOptions(), f.agent),
      selectField('fb-channel', 'channel', lt('common.channel'), channelOptions(), f.channel),
      dateField('fb-from', 'from', lt('common.from'), f.from),
      dateField('fb-to', 'to', lt('common.to'), f.to),
      h('div', { class: 'filter-actions' },
        h('button', { type: 'submit', class: 'primary', text: lt('common.apply') }),
        h('button', { type: 'button', text: lt('common.reset'), onclick: () => { this.filters = {}; this.renderForm(); guard(this, this.reload()); } })),
    ]);
  }

  renderStatus() {
    if (!this.form) return;
    let text = '';
    if (this.busy) text = lt('common.loading');
    else if (this.loaded && !this.items.length) text = lt('feedback.empty');
    else if (this.loaded) text = lt('feedback.count', { count: this.items.length });
    this.status.textContent = text;
    this.more.replaceChildren(this.nextCursor
      ? h('button', { type: 'button', class: 'load-more', disabled: this.busy, text: lt('feedback.loadMore'), onclick: () => guard(this, this.loadMore()) })
      : '');
  }

  renderItem(item) {
    const rating = item.rating ? h('span', { class: 'stars', role: 'img', 'aria-label': lt('feedback.stars', { n: item.rating }), title: lt('feedback.stars', { n: item.rating }) },
      h('span', { class: 'stars-on', text: '★'.repeat(item.rating) }),
      h('span', { class: 'stars-off', text: '★'.repeat(Math.max(0, 5 - item.rating)) })) : null;
    const link = h('a', {
      class: 'fb-ticket',
      href: ticketHref(item.ticket_id),
      title: lt('feedback.open', { number: item.ticket_number }),
    }, h('span', { class: 'fb-number', text: `#${item.ticket_number}` }), ' ', h('span', { class: 'fb-subject', text: item.ticket_subject || lt('ticket.noSubject') }));
    const meta = [
      item.contact_name ? h('span', { class: 'fb-contact', text: item.contact_name }) : null,
      item.channel ? h('span', { class: `channel channel-${item.channel}`, text: label('channel', item.channel) }) : null,
      item.team_id ? h('span', { class: 'fb-team', text: teamName(item.team_id) }) : null,
      item.assignee_id ? h('span', { class: 'fb-agent', text: agentName(item.assignee_id) }) : null,
      h('time', { datetime: item.created_at, text: formatDateTime(item.created_at) }),
    ];
    const li = h('li', { class: `fb-item kind-${item.kind}`, dataset: { id: item.id, rating: item.rating ?? '' } },
      h('div', { class: 'fb-head' },
        h('span', { class: `badge fb-kind kind-${item.kind}`, text: word('fbkind', item.kind) }),
        rating,
        link),
      h('p', { class: item.comment ? 'fb-comment' : 'fb-comment muted', text: item.comment || lt('feedback.noComment') }),
      h('p', { class: 'fb-meta muted' }, meta));
    // The whole card opens the ticket on a click; the link inside serves the keyboard.
    li.addEventListener('click', (e) => {
      if (e.target instanceof Element && e.target.closest('a, button')) return;
      if (String(window.getSelection() || '')) return;
      location.assign(link.href);
    });
    return li;
  }
}

customElements.define('sb-feedback-stream', SbFeedbackStream);
