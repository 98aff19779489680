// The middle column: one ticket's header controls, its timeline, collision notice and composer.
import { api, attachmentUrl } from './api.js';
import { fill, h, announce, debounce, guard, reconcile, report } from './dom.js';
import { t, label, formatBytes, formatDateTime, formatList, onLangChange } from './i18n.js';
import { agentName, directory, directoryChanges, myId, teamName } from './state.js';
import { badge } from './queue.js';
import { refreshSlaBadges, slaBadge } from './sla.js';
import './composer.js';

const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const KINDS = ['question', 'problem', 'complaint', 'praise', 'suggestion'];
/** What an agent may mark a ticket as (feedback for the team leads). */
const FEEDBACK_KINDS = ['complaint', 'praise', 'suggestion'];
/** History entries that only repeat what the messages already show. */
const HIDDEN_EVENTS = new Set(['created', 'message', 'reply', 'note']);
/** How long "Customer is typing…" stays after the widget's last typing notice. */
const CUSTOMER_TYPING_FOR = 6000;

/** The attachment an inline image's `cid:` URL names (RFC 2392), or undefined. */
function byContentId(attachments, src) {
  let id = src.trim().slice(4);
  try { id = decodeURIComponent(id); } catch { /* keep it as written */ }
  id = id.replace(/^<|>$/g, '').toLowerCase();
  return attachments.find((a) => a.content_id && a.content_id.toLowerCase() === id);
}

/** Inline image types shown in a mail, and the largest shown. */
const INLINE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
const INLINE_MAX = 2 * 1024 * 1024;
/** Attachment id → promise of its `data:` URL (or null), fetched once per page. */
const inlineData = new Map();

/**
 * An image attachment as a `data:` URL. The sandboxed frame has an opaque origin, so
 * it could not fetch the file with the agent's session; the console fetches it (same
 * origin) and hands the frame the bytes.
 */
function imageData(a) {
  if (!INLINE_TYPES.test(a.content_type || '') || a.size > INLINE_MAX) return Promise.resolve(null);
  if (!inlineData.has(a.id)) {
    inlineData.set(a.id, fetch(attachmentUrl(a.id), { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.blob() : null))
      .then((blob) => (blob && INLINE_TYPES.test(blob.type) ? new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => resolve(null);
        reader.readAsDataURL(blob);
      }) : null))
      .catch(() => null));
  }
  return inlineData.get(a.id);
}

/**
 * The message's HTML with its inline images (`src="cid:…"`) filled in from their
 * attachments, or the HTML unchanged. It is parsed in an inert document (nothing runs
 * or loads there) and shown, as before, only in the sandboxed frame.
 */
export async function inlineImages(html, attachments) {
  if (!html || !/cid:/i.test(html) || !attachments.some((a) => a.content_id)) return html;
  const doc = new DOMParser().parseFromString(html, 'text/html');
  let changed = false;
  for (const img of doc.querySelectorAll('img[src]')) {
    const src = img.getAttribute('src');
    if (!/^\s*cid:/i.test(src)) continue;
    const a = byContentId(attachments, src);
    const data = a ? await imageData(a) : null;
    if (!data) continue;
    img.setAttribute('src', data);
    changed = true;
  }
  return changed ? doc.body.innerHTML : html;
}

/** A message's mail addresses (an object), or null for other channels' messages. */
function mailAddresses(m) {
  const a = m.addresses;
  return a && typeof a === 'object' && !Array.isArray(a) ? a : null;
}

/** A list of addresses the server may have stored as a string or an array. */
function addressList(value) {
  if (Array.isArray(value)) return value.filter((x) => typeof x === 'string' && x);
  return typeof value === 'string' && value ? [value] : [];
}

/** Replaces a select's options only when they changed, then sets its value. */
function fillSelect(select, options, value) {
  const signature = JSON.stringify(options);
  if (select.dataset.signature !== signature) {
    select.replaceChildren(...options.map(([v, text]) => h('option', { value: v, text })));
    select.dataset.signature = signature;
  }
  select.value = value;
}

class SbTicket extends HTMLElement {
  constructor() {
    super();
    this.ticketId = null;
    this.loading = false;
    this.seq = 0;
    this.reset();
    this.refetchSoon = debounce(() => guard(this, this.fetch()), 300);
    this.rerender = () => { this.nodes.clear(); this.render(); };
    this.addEventListener('sb-message-sent', (e) => {
      this.applyMessage(e.detail.message, true);
      // The answer does not list the files sent with it; the full ticket does.
      if (e.detail.status || e.detail.files) this.refetchSoon();
    });
  }

  connectedCallback() {
    if (!this.timeline) this.build();
    this.unlisten = onLangChange(this.rerender);
    directoryChanges.addEventListener('change', this.rerender);
    this.slaTimer = setInterval(() => this.refreshSla(), 30000);
    this.render();
  }

  /** Brings the SLA due time in the header up to date (timer and live SLA events). */
  refreshSla() {
    if (this.meta) refreshSlaBadges(this.meta, (id) => (this.ticket && this.ticket.id === id ? this.ticket : null));
  }

  disconnectedCallback() {
    this.unlisten();
    directoryChanges.removeEventListener('change', this.rerender);
    this.refetchSoon.cancel();
    clearTimeout(this.customerTypingTimer);
    clearInterval(this.slaTimer);
  }

  build() {
    this.placeholder = h('div', { class: 'ticket-placeholder' });
    this.titleBox = h('div', { class: 'ticket-title-box' });
    this.meta = h('p', { class: 'ticket-meta' });
    this.collision = h('div', { class: 'collision', role: 'status', 'aria-live': 'polite' });
    this.controls = this.buildControls();
    this.feedbackForm = this.buildFeedback();
    this.titleRow = h('div', { class: 'ticket-title-row' }, this.titleBox,
      h('div', { class: 'ticket-actions' }, this.assignMe, this.resolveButton, this.feedbackToggle));
    this.timeline = h('ol', { class: 'timeline', 'aria-labelledby': 'ticket-title' });
    this.timelineBox = h('div', { class: 'timeline-box', tabindex: '-1' }, this.timeline);
    this.customerTypingLine = h('p', { class: 'customer-typing', role: 'status', 'aria-live': 'polite', hidden: true });
    this.composer = h('sb-composer');
    this.head = h('header', { class: 'ticket-head' }, this.titleRow,
      h('div', { class: 'ticket-meta-row' }, this.meta, this.collision), this.controls, this.feedbackForm);
    this.body = h('div', { class: 'ticket-body' }, this.head, this.timelineBox, this.customerTypingLine, this.composer);
    this.replaceChildren(this.placeholder, this.body);
  }

  buildControls() {
    const field = (name, onchange) => {
      const select = h('select', { id: `ticket-${name}`, name, onchange });
      const text = h('label', { for: `ticket-${name}` });
      return { select, text, node: h('div', { class: 'field compact' }, text, select) };
    };
    this.fields = {
      status: field('status', (e) => this.update({ status: e.target.value })),
      priority: field('priority', (e) => this.update({ priority: e.target.value })),
      kind: field('kind', (e) => this.update({ kind: e.target.value })),
      assignee: field('assignee', (e) => this.assign({ agent_id: e.target.value ? Number(e.target.value) : null })),
      team: field('team', (e) => this.assign({ team_id: e.target.value ? Number(e.target.value) : null })),
    };
    this.assignMe = h('button', { type: 'button', class: 'assign-me', onclick: () => this.assignToMe() });
    this.resolveButton = h('button', { type: 'button', class: 'resolve', onclick: () => this.resolve() });
    return h('div', { class: 'ticket-controls' }, Object.values(this.fields).map((f) => f.node));
  }

  /** "Mark as…": a small form to record a complaint, praise or suggestion on the ticket. */
  buildFeedback() {
    this.feedbackToggle = h('button', {
      type: 'button', class: 'mark-feedback', 'aria-expanded': 'false', 'aria-controls': 'ticket-feedback-form',
      onclick: () => this.toggleFeedback(),
    });
    this.feedbackKind = h('select', { id: 'ticket-feedback-kind', name: 'kind' });
    this.feedbackComment = h('input', { id: 'ticket-feedback-comment', name: 'comment', maxlength: '2000', autocomplete: 'off' });
    this.feedbackKindLabel = h('label', { for: 'ticket-feedback-kind' });
    this.feedbackCommentLabel = h('label', { for: 'ticket-feedback-comment' });
    this.feedbackSave = h('button', { type: 'submit', class: 'primary' });
    this.feedbackCancel = h('button', { type: 'button', onclick: () => this.toggleFeedback(false) });
    const form = h('form', { id: 'ticket-feedback-form', class: 'inline-form feedback-form', hidden: true, onsubmit: (e) => this.markFeedback(e) },
      this.feedbackKindLabel, this.feedbackKind, this.feedbackCommentLabel, this.feedbackComment, this.feedbackSave, this.feedbackCancel);
    form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); this.toggleFeedback(false); } });
    return form;
  }

  toggleFeedback(open = this.feedbackForm.hidden) {
    this.feedbackForm.hidden = !open;
    this.feedbackToggle.setAttribute('aria-expanded', String(open));
    if (open) this.feedbackKind.focus();
    else this.feedbackToggle.focus();
  }

  async markFeedback(event) {
    event.preventDefault();
    if (!this.ticket) return;
    const kind = this.feedbackKind.value;
    const comment = this.feedbackComment.value.trim();
    const body = comment ? { kind, comment } : { kind };
    this.feedbackSave.disabled = true;
    try {
      await api.post(`/tickets/${this.ticket.id}/feedback`, body);
      this.feedbackComment.value = '';
      this.toggleFeedback(false);
      announce(this, t('feedback.marked', { number: this.ticket.number, kind: label('kind', kind) }));
      this.refetchSoon(); // kind, priority and history changed
    } catch (error) {
      report(this, error);
    } finally {
      this.feedbackSave.disabled = false;
    }
  }

  /** Forgets everything about the ticket shown. */
  reset() {
    this.ticket = null;
    this.messages = new Map();
    this.events = [];
    this.viewing = [];
    this.typing = [];
    this.customerTyping = false;
    clearTimeout(this.customerTypingTimer);
    this.formatted = new Set();
    this.nodes = new Map();
    this.editingSubject = false;
    this.error = '';
    this.contactName = '';
  }

  /** Opens a ticket (or none) and loads it. */
  async open(id) {
    if (id === this.ticketId && (this.ticket || this.loading)) return;
    this.ticketId = id;
    this.reset();
    this.composer.setTicket(id, null);
    this.render();
    if (id) await this.fetch(true);
  }

  /** Re-reads the open ticket (after a reconnect, or to pick up its history). */
  reload() {
    return this.ticketId ? this.fetch() : Promise.resolve();
  }

  async fetch(first = false) {
    const id = this.ticketId;
    const seq = ++this.seq;
    this.loading = true;
    if (first) this.render();
    try {
      const detail = await api.get(`/tickets/${id}`);
      if (seq !== this.seq || id !== this.ticketId) return;
      const previousContact = this.ticket ? this.ticket.contact_id : null;
      // A live update may have brought a newer state while the request was under way.
      const newer = this.ticket && Date.parse(this.ticket.updated_at) > Date.parse(detail.ticket.updated_at);
      if (!newer) this.ticket = detail.ticket;
      for (const message of detail.messages || []) this.messages.set(message.id, message);
      this.events = detail.events || [];
      this.error = '';
      this.loading = false;
      const stick = first || this.atBottom();
      this.render();
      if (stick) this.scrollToEnd();
      if (first || previousContact !== this.ticket.contact_id) this.loaded();
    } catch (error) {
      if (seq !== this.seq) return;
      this.loading = false;
      if (!this.ticket) this.error = error.userMessage || String(error.message || error);
      this.render();
      throw error;
    }
  }

  loaded() {
    this.dispatchEvent(new CustomEvent('sb-ticket-loaded', { bubbles: true, detail: this.ticket }));
  }

  applyTicket(ticket) {
    if (!ticket || ticket.id !== this.ticketId || !this.ticket) return;
    const contactChanged = ticket.contact_id !== this.ticket.contact_id;
    const changed = ['status', 'priority', 'kind', 'subject', 'assignee_id', 'team_id'].some((k) => ticket[k] !== this.ticket[k]);
    this.ticket = ticket;
    this.renderHead();
    if (changed) this.refetchSoon(); // the history lines come with the full ticket
    if (contactChanged) this.loaded();
  }

  applyMessage(message, own = false) {
    if (!message || message.ticket_id !== this.ticketId) return;
    const stick = own || this.atBottom();
    const known = this.messages.get(message.id);
    this.messages.set(message.id, { ...known, ...message, attachments: message.attachments || (known && known.attachments) || [] });
    if (message.direction === 'in' && !known) this.setCustomerTyping(false); // it was sent
    // Live messages come without their files; a mail may have some.
    if (!known && !own && !Array.isArray(message.attachments) && message.channel === 'email') this.refetchSoon();
    this.renderTimeline();
    if (stick) this.scrollToEnd();
  }

  applyViewing(event) {
    if (!event || event.ticket_id !== this.ticketId) return;
    this.viewing = Array.isArray(event.viewing) ? event.viewing : [];
    this.typing = Array.isArray(event.typing) ? event.typing : [];
    this.renderCollision();
  }

  /** The customer is typing in the chat widget: say so for a few seconds. */
  applyCustomerTyping(event) {
    if (!event || event.ticket_id !== this.ticketId || !this.ticket) return;
    this.setCustomerTyping(true);
  }

  setCustomerTyping(on) {
    clearTimeout(this.customerTypingTimer);
    this.customerTyping = on;
    if (on) this.customerTypingTimer = setTimeout(() => this.setCustomerTyping(false), CUSTOMER_TYPING_FOR);
    this.renderCustomerTyping();
  }

  setContactName(name) {
    if (name === this.contactName) return;
    this.contactName = name || '';
    this.nodes.clear();
    this.renderTimeline();
  }

  focusComposer(mode) {
    this.composer.focusMode(mode);
  }

  send() {
    return this.composer.send();
  }

  update(change) {
    return this.save((id) => api.patch(`/tickets/${id}`, change));
  }

  assign(to) {
    return this.save((id) => api.post(`/tickets/${id}/assign`, to));
  }

  // Runs a change of the open ticket; the answer is the ticket as stored, or null after
  // the error was shown.
  async save(request) {
    if (!this.ticket) return null;
    try {
      const ticket = await request(this.ticket.id);
      this.changed(ticket);
      return ticket;
    } catch (error) {
      this.renderHead();
      report(this, error);
      return null;
    }
  }

  changed(ticket) {
    this.applyTicket(ticket);
    this.dispatchEvent(new CustomEvent('sb-ticket-changed', { bubbles: true, detail: ticket }));
  }

  async assignToMe() {
    if (!this.ticket || this.ticket.assignee_id === myId()) return;
    const ticket = await this.assign({ agent_id: myId() });
    if (ticket) announce(this, t('ticket.assigned', { number: ticket.number }));
  }

  async resolve() {
    if (!this.ticket || this.ticket.status === 'resolved') return;
    const ticket = await this.update({ status: 'resolved' });
    if (ticket) announce(this, t('ticket.resolved', { number: ticket.number }));
  }

  async saveSubject(event) {
    event.preventDefault();
    const subject = event.currentTarget.elements.subject.value.trim();
    if (!subject || subject === this.ticket.subject) {
      this.editingSubject = false;
      this.renderHead();
      return;
    }
    const ticket = await this.update({ subject });
    if (ticket) {
      this.editingSubject = false;
      this.renderHead();
      const edit = this.querySelector('.edit-subject');
      if (edit) edit.focus();
    }
  }

  atBottom() {
    const box = this.timelineBox;
    return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }

  scrollToEnd() {
    requestAnimationFrame(() => { this.timelineBox.scrollTop = this.timelineBox.scrollHeight; });
  }

  render() {
    if (!this.timeline) return;
    const showing = Boolean(this.ticket);
    this.body.hidden = !showing;
    this.placeholder.hidden = showing;
    this.setAttribute('aria-busy', String(this.loading));
    if (!showing) {
      fill(this.placeholder,
        this.error ? h('p', { class: 'form-error', text: this.error })
          : this.ticketId ? h('p', { class: 'muted', text: t('ticket.loading') })
            : [h('p', { class: 'placeholder-title', text: t('ticket.empty') }), h('p', { class: 'muted', text: t('ticket.emptyHint') })]);
      this.collision.replaceChildren();
      this.renderCustomerTyping();
      return;
    }
    this.renderHead();
    this.renderCollision();
    this.renderCustomerTyping();
    this.renderTimeline();
  }

  renderHead() {
    const ticket = this.ticket;
    if (!ticket) return;
    this.composer.setTicket(ticket.id, ticket.channel);
    if (this.editingSubject) {
      const input = h('input', { id: 'ticket-subject', name: 'subject', value: ticket.subject, maxlength: '500', required: true });
      this.titleBox.replaceChildren(h('form', { class: 'inline-form subject-form', onsubmit: (e) => this.saveSubject(e) },
        h('label', { for: 'ticket-subject', class: 'visually-hidden', text: t('ticket.subject') }),
        h('span', { class: 'ticket-number', id: 'ticket-title', text: `#${ticket.number}` }),
        input,
        h('button', { type: 'submit', class: 'primary', text: t('contact.save') }),
        h('button', { type: 'button', text: t('contact.cancel'), onclick: () => { this.editingSubject = false; this.renderHead(); } })));
      if (!this.titleBox.contains(document.activeElement)) input.focus();
      input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { this.editingSubject = false; this.renderHead(); } });
    } else {
      this.titleBox.replaceChildren(
        h('h1', { class: 'ticket-title', id: 'ticket-title' },
          h('span', { class: 'ticket-number', text: `#${ticket.number}` }), ' ',
          h('span', { class: 'ticket-subject', text: ticket.subject || t('ticket.noSubject') })),
        h('button', { type: 'button', class: 'edit-subject ghost small', 'aria-label': t('ticket.editSubject'), text: t('contact.edit'),
          onclick: () => { this.editingSubject = true; this.renderHead(); } }));
    }
    fill(this.meta,
      badge('channel', ticket.channel), ' ',
      h('span', {}, t('ticket.opened', { date: formatDateTime(ticket.created_at) })),
      ' ', slaBadge(ticket),
      ticket.previous_ticket_id ? [' · ', h('a', { href: `#ticket/${ticket.previous_ticket_id}`, class: 'previous-ticket', text: t('ticket.previous') })] : null);
    const f = this.fields;
    for (const [name, key] of Object.entries({ status: 'ticket.status', priority: 'ticket.priority', kind: 'ticket.kind', assignee: 'ticket.assignee', team: 'ticket.team' })) {
      f[name].text.textContent = t(key);
    }
    fillSelect(f.status.select, STATUSES.map((s) => [s, label('status', s)]), ticket.status);
    fillSelect(f.priority.select, PRIORITIES.map((p) => [p, label('priority', p)]), ticket.priority);
    fillSelect(f.kind.select, KINDS.map((k) => [k, label('kind', k)]), ticket.kind);
    const agents = [...directory.agents.values()].filter((a) => a.active !== false || a.id === ticket.assignee_id);
    if (ticket.assignee_id && !agents.some((a) => a.id === ticket.assignee_id)) agents.push({ id: ticket.assignee_id });
    fillSelect(f.assignee.select, [['', t('ticket.unassigned')]].concat(
      agents.map((a) => [String(a.id), agentName(a.id)]).sort((a, b) => a[1].localeCompare(b[1]))), ticket.assignee_id ? String(ticket.assignee_id) : '');
    const teams = [...directory.teams.values()];
    if (ticket.team_id && !directory.teams.has(ticket.team_id)) teams.push({ id: ticket.team_id });
    fillSelect(f.team.select, [['', t('ticket.noTeam')]].concat(teams.map((team) => [String(team.id), teamName(team.id)])), ticket.team_id ? String(ticket.team_id) : '');
    this.assignMe.textContent = t('ticket.assignMe');
    this.assignMe.disabled = ticket.assignee_id === myId();
    this.resolveButton.textContent = t('ticket.resolve');
    this.feedbackToggle.textContent = t('feedback.mark');
    this.feedbackKindLabel.textContent = t('feedback.kind');
    this.feedbackCommentLabel.textContent = t('feedback.comment');
    this.feedbackSave.textContent = t('feedback.save');
    this.feedbackCancel.textContent = t('contact.cancel');
    fillSelect(this.feedbackKind, FEEDBACK_KINDS.map((k) => [k, label('kind', k)]), this.feedbackKind.value || FEEDBACK_KINDS[0]);
    this.resolveButton.disabled = ticket.status === 'resolved' || ticket.status === 'closed';
  }

  renderCollision() {
    const me = myId();
    const typing = this.typing.filter((id) => id !== me);
    const viewing = this.viewing.filter((id) => id !== me && !typing.includes(id));
    const names = (ids) => formatList(ids.map((id) => agentName(id)));
    const parts = [];
    if (viewing.length) parts.push(h('span', { class: 'collision-viewing', text: t(`collision.viewing.${viewing.length > 1 ? 'many' : 'one'}`, { names: names(viewing) }) }));
    if (typing.length) parts.push(h('span', { class: 'collision-typing', text: t(`collision.typing.${typing.length > 1 ? 'many' : 'one'}`, { names: names(typing) }) }));
    this.collision.classList.toggle('is-active', parts.length > 0);
    this.collision.classList.toggle('is-typing', typing.length > 0);
    this.collision.replaceChildren(...parts);
  }

  renderCustomerTyping() {
    if (!this.customerTypingLine) return;
    const on = this.customerTyping && Boolean(this.ticket);
    this.customerTypingLine.hidden = !on;
    this.customerTypingLine.textContent = on ? t('ticket.customerTyping') : '';
  }

  renderTimeline() {
    if (!this.ticket) return;
    const entries = [];
    for (const message of this.messages.values()) entries.push({ at: message.created_at, order: 0, id: message.id, message });
    for (const event of this.events) {
      if (!HIDDEN_EVENTS.has(event.kind)) entries.push({ at: event.created_at, order: 1, id: event.id, event });
    }
    entries.sort((a, b) => (Date.parse(a.at) - Date.parse(b.at)) || (a.order - b.order) || (a.id - b.id));
    const keep = new Map();
    const nodes = entries.map((entry) => {
      const key = entry.message ? `m${entry.id}` : `e${entry.id}`;
      const signature = entry.message
        ? JSON.stringify([entry.message.delivery_status, entry.message.delivery_error, this.formatted.has(entry.id),
          (entry.message.attachments || []).map((a) => a.id), entry.message.addresses ?? null])
        : '';
      let cached = this.nodes.get(key);
      if (!cached || cached.signature !== signature) {
        cached = { signature, node: entry.message ? this.messageNode(entry.message) : this.eventNode(entry.event) };
      }
      keep.set(key, cached);
      return cached.node;
    });
    this.nodes = keep;
    if (!nodes.length) nodes.push(h('li', { class: 'timeline-empty muted', text: t('ticket.noMessages') }));
    reconcile(this.timeline, nodes);
  }

  author(message) {
    if (message.direction === 'in') return this.contactName || t('message.customer');
    if (message.author_agent_id) return agentName(message.author_agent_id);
    return t('actor.system');
  }

  messageNode(m) {
    const note = m.direction === 'note';
    const formatted = Boolean(m.html) && this.formatted.has(m.id);
    const showDelivery = m.direction === 'out' && m.delivery_status && m.delivery_status !== 'none';
    const attachments = Array.isArray(m.attachments) ? m.attachments : [];
    const mail = mailAddresses(m);
    const failed = m.delivery_status === 'failed';
    const errorId = `delivery-error-${m.id}`;
    return h('li', { class: `message message-${m.direction}${formatted ? ' is-formatted' : ''}`, dataset: { messageId: m.id } },
      h('div', { class: 'message-head' },
        h('span', { class: 'message-author', text: this.author(m) }),
        note ? h('span', { class: 'badge note-badge', text: t('message.note') }) : null,
        mail && mail.auto_submitted ? h('span', { class: 'badge auto-badge', text: t('message.automatic') }) : null,
        this.ticket && m.channel !== this.ticket.channel ? badge('channel', m.channel) : null,
        h('time', { class: 'message-time', datetime: m.created_at, text: formatDateTime(m.created_at) }),
        showDelivery ? h('span', {
          class: `delivery delivery-${m.delivery_status}`, title: m.delivery_error || null,
          'aria-describedby': failed && m.delivery_error ? errorId : null, text: label('delivery', m.delivery_status),
        }) : null),
      mail ? this.mailHead(mail) : null,
      h('div', { class: 'message-text', hidden: formatted, text: m.text }),
      formatted ? this.htmlFrame(m.html, attachments) : null,
      failed && m.delivery_error ? h('p', { class: 'delivery-error', id: errorId, text: t('message.deliveryError', { error: m.delivery_error }) }) : null,
      attachments.length ? h('ul', { class: 'attachments', 'aria-label': t('message.attachments') },
        attachments.map((a) => h('li', { class: 'attachment' },
          h('a', { class: 'attachment-link', href: attachmentUrl(a.id), download: a.filename || true, dataset: { attachmentId: a.id } },
            h('span', { class: 'attachment-name', text: a.filename }),
            h('span', { class: 'attachment-size', text: ` · ${formatBytes(a.size)}` }))))) : null,
      m.html ? h('button', {
        type: 'button', class: 'toggle-html ghost small', 'aria-pressed': String(formatted), text: t('message.formatted'),
        dataset: { focusKey: `html-${m.id}` },
        onclick: () => {
          if (this.formatted.has(m.id)) this.formatted.delete(m.id); else this.formatted.add(m.id);
          this.renderTimeline();
          const again = this.querySelector(`[data-focus-key="html-${m.id}"]`);
          if (again) again.focus();
        },
      }) : null);
  }

  /** A mail's HTML in a sandboxed frame; its inline images arrive when fetched. */
  htmlFrame(html, attachments) {
    const frame = h('iframe', { class: 'message-html', sandbox: '', referrerpolicy: 'no-referrer', srcdoc: html, title: t('message.htmlTitle') });
    inlineImages(html, attachments).then((filled) => {
      if (filled !== html) frame.srcdoc = filled;
    });
    return frame;
  }

  /** The compact address line of a mail: From (via the forwarding agent), Reply-To, To, Cc. */
  mailHead(mail) {
    const rows = [];
    const row = (key, ...value) => rows.push(h('div', { class: `mail-row mail-${key}` },
      h('dt', { text: t(`mail.${key}`) }), h('dd', {}, value)));
    const from = addressList(mail.from);
    if (from.length) {
      row('from', from.join(', '), mail.forwarded_by
        ? h('span', { class: 'mail-via', text: ` ${t('mail.via', { agent: mail.forwarded_by })}` }) : null);
    }
    const replyTo = addressList(mail.reply_to);
    if (replyTo.length) row('replyTo', replyTo.join(', '));
    const to = addressList(mail.to);
    if (to.length) row('to', to.join(', '));
    const cc = addressList(mail.cc);
    if (cc.length) row('cc', cc.join(', '));
    return rows.length ? h('dl', { class: 'mail-head', 'aria-label': t('mail.addresses') }, rows) : null;
  }

  eventNode(event) {
    return h('li', { class: `event event-${event.kind}` },
      h('span', { class: 'event-text', text: this.describe(event) }), ' ',
      h('time', { class: 'event-time', datetime: event.created_at, text: formatDateTime(event.created_at) }));
  }

  describe(event) {
    const data = event.data || {};
    const actor = event.actor_kind === 'agent' ? agentName(event.actor_id)
      : event.actor_kind === 'contact' ? (this.contactName || t('actor.contact'))
        : event.actor_kind === 'token' ? t('actor.token') : t('actor.system');
    const word = (group, value) => label(group, value);
    switch (event.kind) {
      case 'status': return t('event.status', { actor, from: word('status', data.from), to: word('status', data.to) });
      case 'priority': return t('event.priority', { actor, from: word('priority', data.from), to: word('priority', data.to) });
      case 'kind': return t('event.kind', { actor, from: word('kind', data.from), to: word('kind', data.to) });
      case 'subject': return t('event.subject', { actor, to: data.to ?? '' });
      case 'assigned':
        if (data.field === 'team') return data.to ? t('event.assignedTeam', { actor, to: teamName(data.to) }) : t('event.unassignedTeam', { actor });
        if (!data.to) return t('event.unassignedAgent', { actor });
        if (event.actor_kind === 'agent' && data.to === event.actor_id) return t('event.took', { actor });
        return t('event.assignedAgent', { actor, to: agentName(data.to) });
      case 'reopened': return t('event.reopened');
      case 'contact_merged': return t('event.contactMerged', { actor });
      case 'sla_breached': return t('event.slaBreached', { metric: label('sla.metric', data.metric), date: formatDateTime(data.due_at) });
      case 'sla_resumed': return t('event.slaResumed', { actor });
      case 'feedback': return t('event.feedback', { actor, kind: word('kind', data.kind) });
      case 'complaint': return data.action === 'raised' ? t('event.complaintRaised') : t('event.complaint', { actor, field: data.field || '' });
      case 'survey_sent': return t('event.surveySent');
      case 'survey_skipped': return t('event.surveySkipped', { reason: data.reason || '' });
      case 'survey_answered': return t('event.surveyAnswered', { rating: data.rating });
      case 'survey_changed': return t('event.surveyChanged', { rating: data.rating });
      default: return t('event.other', { actor, kind: event.kind });
    }
  }
}

customElements.define('sb-ticket', SbTicket);
