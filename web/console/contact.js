// The right column: the customer's record, value, purchase history and earlier tickets, editable.
import { api, query } from './api.js';
import { h, announce, guard, report, rerender } from './dom.js';
import { t, label, formatDate, formatDateTime, formatMoney, formatNumber, onLangChange } from './i18n.js';
import { badge } from './queue.js';

const IDENTITY_KINDS = ['email', 'phone', 'telegram', 'visitor', 'shop'];
const ICONS = { email: '✉', phone: '☎', telegram: '✈', visitor: '◍', shop: '⌂' };
const ORDERS_SHOWN = 5;
const SAVED_FOR = 4000;

/** A customer's value (lifetime totals net of refunds, order count, average order,
 * refunds when there are any, first and last order), as the contact panel and the call
 * card show it. */
export function valueBlock(value) {
  const v = value || {};
  const list = (amounts) => (Array.isArray(amounts) ? amounts : []);
  const lifetime = list(v.lifetime);
  const refunded = list(v.refunded).filter((m) => m.cents);
  const money = (amounts) => amounts.map((m) => h('span', { class: 'money', text: formatMoney(m.cents, m.currency) }));
  const row = (term, ...desc) => h('div', { class: 'value-row' }, h('dt', { text: term }), h('dd', {}, ...desc));
  return h('div', { class: 'customer-value' },
    h('h3', { class: 'section-title', text: t('contact.value') }),
    v.order_count
      ? h('dl', { class: 'value-grid' },
        row(t('value.lifetime'), money(lifetime)),
        row(t('value.orders'), formatNumber(v.order_count)),
        list(v.average).length ? row(t('value.average'), money(list(v.average))) : null,
        refunded.length ? row(t('value.refunded'), money(refunded)) : null,
        row(t('value.lastOrder'), v.last_order_at ? formatDate(v.last_order_at) : '—'),
        row(t('value.firstOrder'), v.first_order_at ? formatDate(v.first_order_at) : '—'))
      : h('p', { class: 'muted', text: t('value.none') }));
}

/** Orders, newest first: number, status, total and date, and (unless `items` is false)
 * what was bought. */
export function orderList(orders, { items = true } = {}) {
  if (!orders || !orders.length) return h('p', { class: 'muted', text: t('value.none') });
  return h('ol', { class: 'orders' }, orders.map((order) => h('li', { class: 'order', dataset: { orderNumber: order.number } },
    h('div', { class: 'order-head' },
      h('span', { class: 'order-number', 'aria-label': t('order.label', { number: order.number }), text: `#${order.number}` }),
      h('span', { class: `order-status order-status-${String(order.status).toLowerCase()}`, text: order.status }),
      h('span', { class: 'order-total', text: formatMoney(order.total_cents, order.currency) })),
    h('time', { class: 'order-date muted', datetime: order.placed_at, text: formatDate(order.placed_at) }),
    items
      ? h('ul', { class: 'order-items' }, (order.items || []).map((item) => h('li', { class: 'order-item' },
        h('span', { class: 'item-name' }, h('span', { class: 'item-qty', text: `${formatNumber(item.quantity)} × ` }), item.name),
        h('span', { class: 'item-price', text: formatMoney(item.unit_price_cents, order.currency) }))))
      : null)));
}

/** Tickets as links that open them in the console (click or Enter). */
export function ticketList(tickets, className = 'earlier-tickets') {
  return h('ul', { class: className }, tickets.map((ticket) => h('li', {},
    h('a', { class: 'earlier-ticket', href: `#ticket/${ticket.id}`, dataset: { ticketId: ticket.id } },
      h('span', { class: 'qi-line' },
        h('span', { class: 'qi-number', text: `#${ticket.number}` }),
        badge('status', ticket.status),
        badge('channel', ticket.channel),
        h('time', { class: 'qi-time', datetime: ticket.created_at, title: formatDateTime(ticket.created_at), text: formatDate(ticket.created_at) })),
      h('span', { class: 'qi-subject', text: ticket.subject || t('ticket.noSubject') })))));
}

class SbContact extends HTMLElement {
  constructor() {
    super();
    this.contactId = null;
    this.ticketId = null;
    this.detail = null;
    this.seq = 0;
    this.reset();
  }

  reset() {
    this.loading = false;
    this.error = '';
    this.editing = { name: false, organization: false };
    this.notesDraft = null;
    this.tagDraft = '';
    this.identityDraft = { kind: 'email', value: '' };
    this.identityOpen = false;
    this.saved = {};
    this.merge = { open: false, kind: 'email', value: '', found: null, message: '', busy: false };
    this.allOrders = false;
  }

  connectedCallback() {
    if (!this.sections) this.build();
    this.unlisten = onLangChange(() => this.render());
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
  }

  build() {
    const names = ['head', 'identities', 'tags', 'notes', 'value', 'orders', 'tickets', 'merge'];
    this.sections = Object.fromEntries(names.map((name) => [name, h('section', { class: `contact-section contact-${name}` })]));
    this.status = h('p', { class: 'contact-status muted' });
    this.replaceChildren(this.status, ...Object.values(this.sections));
  }

  /** Shows a ticket's contact; the same contact is not loaded twice. */
  async show(contactId, ticketId) {
    this.ticketId = ticketId;
    if (contactId === this.contactId && (this.detail || this.loading)) {
      this.renderSection('tickets');
      return;
    }
    this.contactId = contactId;
    this.detail = null;
    this.reset();
    this.render();
    const column = this.closest('.contact-column');
    if (column) column.scrollTop = 0;
    if (contactId) await this.load();
  }

  clear() {
    this.contactId = null;
    this.ticketId = null;
    this.detail = null;
    this.seq += 1;
    this.reset();
    this.render();
  }

  reload() {
    return this.contactId ? this.load() : Promise.resolve();
  }

  async load() {
    const seq = ++this.seq;
    const id = this.contactId;
    this.loading = true;
    if (!this.detail) this.render();
    try {
      const detail = await api.get(`/contacts/${id}`);
      if (seq !== this.seq) return;
      this.loading = false;
      this.error = '';
      this.setDetail(detail);
    } catch (error) {
      if (seq !== this.seq) return;
      this.loading = false;
      if (!this.detail) this.error = error.userMessage || String(error.message || error);
      this.render();
      throw error;
    }
  }

  setDetail(detail) {
    this.detail = detail;
    this.contactId = detail.contact.id;
    this.render();
    this.dispatchEvent(new CustomEvent('sb-contact-loaded', { bubbles: true, detail: detail.contact }));
  }

  /** Keeps the earlier-tickets list current from live ticket events. */
  applyTicket(ticket) {
    if (!this.detail || !ticket || ticket.contact_id !== this.contactId) return;
    const list = this.detail.tickets || [];
    const at = list.findIndex((x) => x.id === ticket.id);
    if (at >= 0) list[at] = ticket; else list.unshift(ticket);
    this.detail.tickets = list;
    this.renderSection('tickets');
  }

  render() {
    if (!this.sections) return;
    const ready = Boolean(this.detail);
    this.hidden = !this.contactId;
    this.setAttribute('aria-busy', String(this.loading));
    this.status.hidden = ready;
    this.status.className = this.error ? 'contact-status form-error' : 'contact-status muted';
    this.status.textContent = this.error || (this.contactId ? t('contact.loading') : '');
    for (const name of Object.keys(this.sections)) {
      this.sections[name].hidden = !ready;
      if (ready) this.renderSection(name);
    }
  }

  renderSection(name) {
    if (!this.detail) return;
    const builders = {
      head: () => this.headView(),
      identities: () => this.identitiesView(),
      tags: () => this.tagsView(),
      notes: () => this.notesView(),
      value: () => this.valueView(),
      orders: () => this.ordersView(),
      tickets: () => this.ticketsView(),
      merge: () => this.mergeView(),
    };
    rerender(this.sections[name], builders[name]);
  }

  savedNote(section) {
    return h('span', { class: 'saved-note', role: 'status', text: this.saved[section] || '' });
  }

  flash(section) {
    this.saved[section] = t('contact.saved');
    this.renderSection(section === 'name' || section === 'organization' ? 'head' : section);
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => {
      this.saved = {};
      if (this.detail) for (const s of ['head', 'identities', 'tags', 'notes']) this.sections[s].querySelectorAll('.saved-note').forEach((el) => { el.textContent = ''; });
    }, SAVED_FOR);
  }

  async patch(change, section) {
    const id = this.contactId;
    try {
      const contact = await api.patch(`/contacts/${id}`, change);
      if (id !== this.contactId || !this.detail) return false;
      this.detail.contact = contact;
      if ('organization' in change) {
        this.detail.organization = change.organization ? { id: contact.organization_id, name: change.organization } : null;
      }
      this.flash(section);
      if ('name' in change) this.dispatchEvent(new CustomEvent('sb-contact-loaded', { bubbles: true, detail: contact }));
      return true;
    } catch (error) {
      report(this, error);
      return false;
    }
  }

  headView() {
    const { contact, organization } = this.detail;
    const editField = (field, value, inputLabel) => {
      const inputId = `contact-${field}-input`;
      const input = h('input', { id: inputId, name: `contact-${field}`, value: value || '', maxlength: '300' });
      const cancel = () => { this.editing[field] = false; this.renderSection('head'); this.focusKey(`edit-${field}`); };
      input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); cancel(); } });
      return h('form', {
        class: 'inline-form',
        onsubmit: async (e) => {
          e.preventDefault();
          const next = input.value.trim();
          const ok = next === (value || '') || await this.patch({ [field]: next || null }, field);
          if (ok) { this.editing[field] = false; this.renderSection('head'); this.focusKey(`edit-${field}`); }
        },
      },
      h('label', { for: inputId, class: 'visually-hidden', text: inputLabel }),
      input,
      h('button', { type: 'submit', class: 'primary small', text: t('contact.save') }),
      h('button', { type: 'button', class: 'small', text: t('contact.cancel'), onclick: cancel }));
    };
    const editButton = (field, text) => h('button', {
      type: 'button', class: `ghost small edit-${field}`, dataset: { focusKey: `edit-${field}` }, 'aria-label': text, text: t('contact.edit'),
      onclick: () => { this.editing[field] = true; this.renderSection('head'); this.querySelector(`[name=contact-${field}]`)?.focus(); },
    });
    return [
      h('h2', { class: 'visually-hidden', text: t('contact.label') }),
      this.editing.name
        ? editField('name', contact.name, t('contact.name'))
        : h('div', { class: 'contact-line' },
          h('p', { class: contact.name ? 'contact-name' : 'contact-name is-unknown', text: contact.name || t('contact.unknown') }),
          editButton('name', t('contact.editName'))),
      this.editing.organization
        ? editField('organization', organization && organization.name, t('contact.organization'))
        : h('div', { class: 'contact-line' },
          h('p', { class: organization ? 'contact-org' : 'contact-org muted', text: organization ? organization.name : t('contact.noOrganization') }),
          editButton('organization', t('contact.editOrganization'))),
      this.savedNote('name'), this.savedNote('organization'),
      contact.merged_into_id ? h('p', { class: 'notice', text: t('contact.merged') }) : null,
    ];
  }

  focusKey(key) {
    const el = this.querySelector(`[data-focus-key="${key}"]`);
    if (el) el.focus();
  }

  identitiesView() {
    const identities = this.detail.identities || [];
    const draft = this.identityDraft;
    return [
      h('h3', { class: 'section-title', text: t('contact.identities') }),
      identities.length
        ? h('ul', { class: 'identities' }, identities.map((identity) => h('li', { class: 'identity', dataset: { kind: identity.kind } },
          h('span', { class: `identity-kind kind-${identity.kind}` },
            h('span', { class: 'identity-icon', 'aria-hidden': 'true', text: ICONS[identity.kind] || '•' }),
            label('identity', identity.kind)),
          h('span', { class: 'identity-value', text: identity.value }),
          identity.verified
            ? h('span', { class: 'identity-verified', title: t('identity.verified') }, h('span', { 'aria-hidden': 'true', text: '✓ ' }), t('identity.verified'))
            : h('span', { class: 'identity-unverified muted', text: t('identity.unverified') }))))
        : h('p', { class: 'muted', text: t('contact.noIdentities') }),
      h('details', { class: 'add-identity', open: this.identityOpen, ontoggle: (e) => { this.identityOpen = e.target.open; } },
        h('summary', { text: t('contact.addIdentity') }),
        h('form', { class: 'stack-form', onsubmit: (e) => { e.preventDefault(); guard(this, this.addIdentity()); } },
          h('div', { class: 'field compact' },
            h('label', { for: 'identity-kind', text: t('contact.identityKind') }),
            h('select', { id: 'identity-kind', name: 'identity-kind', onchange: (e) => { draft.kind = e.target.value; } },
              IDENTITY_KINDS.map((kind) => h('option', { value: kind, selected: kind === draft.kind, text: label('identity', kind) })))),
          h('div', { class: 'field compact grow' },
            h('label', { for: 'identity-value', text: t('contact.identityValue') }),
            h('input', { id: 'identity-value', name: 'identity-value', value: draft.value, required: true, oninput: (e) => { draft.value = e.target.value; } })),
          h('button', { type: 'submit', class: 'small', text: t('contact.add') }))),
      this.savedNote('identities'),
    ];
  }

  async addIdentity() {
    const { kind, value } = this.identityDraft;
    if (!value.trim()) return;
    const id = this.contactId;
    const identity = await api.post(`/contacts/${id}/identities`, { kind, value: value.trim() });
    if (id !== this.contactId) return;
    this.detail.identities = [...(this.detail.identities || []), identity];
    this.identityDraft = { kind, value: '' };
    this.flash('identities');
  }

  tagsView() {
    const tags = Array.isArray(this.detail.contact.tags) ? this.detail.contact.tags : [];
    return [
      h('h3', { class: 'section-title', text: t('contact.tags') }),
      tags.length
        ? h('ul', { class: 'tags' }, tags.map((tag) => h('li', { class: 'tag' },
          h('span', { text: tag }),
          h('button', {
            type: 'button', class: 'tag-remove', dataset: { focusKey: `tag-${tag}` }, 'aria-label': t('contact.removeTag', { tag }), text: '×',
            onclick: () => this.setTags(tags.filter((x) => x !== tag)),
          }))))
        : h('p', { class: 'muted', text: t('contact.noTags') }),
      h('form', {
        class: 'inline-form tag-form',
        onsubmit: (e) => {
          e.preventDefault();
          const tag = this.tagDraft.trim();
          if (tag && !tags.includes(tag)) this.setTags([...tags, tag]);
        },
      },
      h('label', { for: 'contact-tag', class: 'visually-hidden', text: t('contact.newTag') }),
      h('input', { id: 'contact-tag', name: 'tag', value: this.tagDraft, placeholder: t('contact.newTag'), maxlength: '60', oninput: (e) => { this.tagDraft = e.target.value; } }),
      h('button', { type: 'submit', class: 'small', 'aria-label': t('contact.addTag'), text: t('contact.add') })),
      this.savedNote('tags'),
    ];
  }

  async setTags(tags) {
    const ok = await this.patch({ tags }, 'tags');
    if (ok) {
      this.tagDraft = '';
      this.renderSection('tags');
      const input = this.querySelector('input[name=tag]');
      if (input && !this.contains(document.activeElement)) input.focus();
    }
  }

  notesView() {
    const value = this.notesDraft ?? this.detail.contact.notes ?? '';
    const save = async (e) => {
      e.preventDefault();
      const notes = (this.notesDraft ?? this.detail.contact.notes ?? '').trim();
      if (await this.patch({ notes: notes || null }, 'notes')) this.notesDraft = null;
    };
    return h('form', { class: 'notes-form', onsubmit: save },
      h('label', { for: 'contact-notes', class: 'section-title', text: t('contact.notes') }),
      h('textarea', {
        id: 'contact-notes', name: 'notes', rows: '3', value,
        oninput: (e) => { this.notesDraft = e.target.value; },
        onkeydown: (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); e.stopPropagation(); save(e); } },
      }),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'small', text: t('contact.saveNotes') }),
        this.savedNote('notes')));
  }

  valueView() {
    return valueBlock(this.detail.value);
  }

  ordersView() {
    const orders = this.detail.orders || [];
    const shown = this.allOrders ? orders : orders.slice(0, ORDERS_SHOWN);
    return [
      h('h3', { class: 'section-title', text: t('contact.orders') }),
      orderList(shown),
      orders.length > shown.length
        ? h('button', { type: 'button', class: 'ghost small', text: t('order.showAll', { count: orders.length }), onclick: () => { this.allOrders = true; this.renderSection('orders'); } })
        : null,
    ];
  }

  ticketsView() {
    const tickets = (this.detail.tickets || []).filter((ticket) => ticket.id !== this.ticketId);
    return [
      h('h3', { class: 'section-title', text: t('contact.tickets') }),
      tickets.length ? ticketList(tickets) : h('p', { class: 'muted', text: t('contact.noTickets') }),
    ];
  }

  mergeView() {
    const m = this.merge;
    const found = m.found;
    return h('details', { class: 'merge', open: m.open, ontoggle: (e) => { m.open = e.target.open; } },
      h('summary', { text: t('merge.title') }),
      h('p', { class: 'muted', text: t('merge.explain') }),
      h('form', { class: 'stack-form', onsubmit: (e) => { e.preventDefault(); guard(this, this.find()); } },
        h('div', { class: 'field compact' },
          h('label', { for: 'merge-kind', text: t('merge.by') }),
          h('select', { id: 'merge-kind', name: 'merge-kind', onchange: (e) => { m.kind = e.target.value; } },
            ['email', 'phone'].map((kind) => h('option', { value: kind, selected: kind === m.kind, text: label('identity', kind) })))),
        h('div', { class: 'field compact grow' },
          h('label', { for: 'merge-value', text: t('merge.value') }),
          h('input', { id: 'merge-value', name: 'merge-value', value: m.value, required: true, oninput: (e) => { m.value = e.target.value; m.found = null; } })),
        h('button', { type: 'submit', class: 'small', disabled: m.busy, text: t('merge.find') })),
      h('p', { class: 'merge-message', role: 'status', text: m.message }),
      found ? h('div', { class: 'merge-found' },
        h('p', {}, t('merge.found', { name: found.contact.name || t('contact.unknown') })),
        h('ul', { class: 'merge-identities muted' }, (found.identities || []).map((i) => h('li', { text: `${label('identity', i.kind)}: ${i.value}` }))),
        h('button', { type: 'button', class: 'merge-confirm danger small', disabled: m.busy, text: t('merge.confirm', { name: found.contact.name || t('contact.unknown') }), onclick: () => guard(this, this.confirmMerge()) }))
        : null);
  }

  async find() {
    const m = this.merge;
    const value = m.value.trim();
    if (!value) return;
    m.busy = true;
    m.found = null;
    m.message = '';
    this.renderSection('merge');
    try {
      const found = await api.get(`/contacts/lookup${query({ [m.kind]: value })}`);
      if (found.contact.id === this.contactId) m.message = t('merge.same');
      else m.found = found;
    } catch (error) {
      if (error.status === 404) m.message = t('merge.notFound');
      else if (error.status === 422 || error.status === 400) m.message = error.userMessage;
      else throw error;
    } finally {
      m.busy = false;
      this.renderSection('merge');
    }
  }

  /** Merges the current contact INTO the found one, then shows the survivor. */
  async confirmMerge() {
    const m = this.merge;
    if (!m.found) return;
    const from = this.contactId;
    m.busy = true;
    this.renderSection('merge');
    try {
      const survivor = await api.post(`/contacts/${m.found.contact.id}/merge`, { contact_id: from });
      this.reset();
      this.seq += 1;
      this.setDetail(survivor);
      announce(this, t('merge.done'));
      this.dispatchEvent(new CustomEvent('sb-contact-merged', { bubbles: true, detail: { from, into: survivor.contact.id } }));
    } finally {
      m.busy = false;
      if (this.merge === m) this.renderSection('merge');
    }
  }
}

customElements.define('sb-contact', SbContact);
