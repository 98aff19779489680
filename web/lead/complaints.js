// <sb-complaints>: the complaints board, one column per state; a card's small form
// changes its state, owner and outcome (the API insists on an outcome to close one).
import { api, query } from '../console/api.js';
import { announce, h, guard, rerender } from '../console/dom.js';
import { formatDateTime, onLangChange } from '../console/i18n.js';
import { agentName, directoryChanges, teamName } from '../console/state.js';
import { lt, word } from './strings.js';
import { agentOptions, formatDuration, selectField, ticketHref } from './common.js';

const STATES = ['open', 'in_progress', 'resolved', 'rejected'];
// Resolved and rejected columns list this many, newest first (the API's limit).
const CLOSED_LIMIT = 100;
const OUTCOMES = ['refund', 'replacement', 'repair', 'credit', 'apology', 'explanation', 'rejected'];

class SbComplaints extends HTMLElement {
  constructor() {
    super();
    this.items = new Map();
    this.cutOff = new Set();
    this.loaded = false;
    this.editing = null;
    this.errors = new Map();
    this.saving = null;
  }

  connectedCallback() {
    if (this.board) return;
    this.heading = h('h1', { class: 'view-title', id: 'complaints-heading' });
    this.status = h('p', { class: 'muted list-status', role: 'status' });
    this.board = h('div', { class: 'board', 'aria-labelledby': 'complaints-heading' });
    this.replaceChildren(this.heading, this.status, this.board);
    onLangChange(() => this.render());
    directoryChanges.addEventListener('change', () => this.render());
    this.render();
  }

  /** Called when the tab is shown: re-reads the board (others change complaints too). */
  async show() {
    await this.reload();
  }

  async reload() {
    this.status.textContent = lt('common.loading');
    const page = await api.get(`/complaints${query({})}`);
    this.items = new Map((page.items || []).map((c) => [c.id, c]));
    this.cutOff = new Set(page.cut_off || []);
    this.loaded = true;
    this.status.textContent = '';
    this.render();
  }

  /** A `complaint_raised` or `complaint_updated` event: the card appears in (or moves
   *  to) its column with what changed; a card being edited keeps the lead's draft. */
  applyLive(complaint) {
    if (!this.loaded) return;
    this.items.set(complaint.id, complaint);
    this.render();
  }

  sorted(state) {
    return [...this.items.values()]
      .filter((c) => c.state === state)
      .sort((a, b) => String(b.raised_at).localeCompare(String(a.raised_at)) || b.id - a.id);
  }

  render() {
    if (!this.board) return;
    this.heading.textContent = lt('complaints.heading');
    // A live event or a language switch must not wipe what the lead is typing.
    const open = this.board.querySelector('form.complaint-form');
    const draft = open ? Object.fromEntries(new FormData(open).entries()) : null;
    const draftOf = open ? open.dataset.id : null;
    rerender(this.board, () => STATES.map((state) => {
      const cards = this.sorted(state);
      const titleId = `column-${state}`;
      return h('section', { class: `board-column state-${state}`, 'aria-labelledby': titleId, dataset: { state } },
        h('h2', { class: 'section-title', id: titleId },
          h('span', { text: word('cstate', state) }), ' ', h('span', { class: 'count', text: String(cards.length) })),
        this.cutOff.has(state)
          ? h('p', { class: 'muted column-cut-off', text: lt('complaints.cutOff', { count: CLOSED_LIMIT }) })
          : null,
        cards.length
          ? h('ul', { class: 'cards' }, cards.map((c) => this.renderCard(c)))
          : h('p', { class: 'muted column-empty', text: lt('complaints.empty') }));
    }));
    const form = draft && this.board.querySelector(`form.complaint-form[data-id="${draftOf}"]`);
    if (form) for (const [name, value] of Object.entries(draft)) if (form.elements[name]) form.elements[name].value = value;
  }

  renderCard(c) {
    const editing = this.editing === c.id;
    const facts = [
      c.contact_name ? h('span', { class: 'cc-contact', text: c.contact_name }) : null,
      h('span', { class: 'cc-owner', text: `${lt('complaints.owner')}: ${c.owner_id ? agentName(c.owner_id) : lt('complaints.noOwner')}` }),
      c.team_id ? h('span', { class: 'cc-team', text: teamName(c.team_id) }) : null,
      c.outcome ? h('span', { class: 'cc-outcome', text: `${lt('complaints.outcome')}: ${word('outcome', c.outcome)}` }) : null,
      h('span', { class: 'cc-source', text: lt('complaints.source', { source: word('source', c.source) }) }),
      h('time', { datetime: c.raised_at, text: lt('complaints.raisedAt', { date: formatDateTime(c.raised_at) }) }),
      c.resolution_seconds !== null && c.resolution_seconds !== undefined
        ? h('span', { class: 'cc-duration', text: lt('complaints.resolvedIn', { duration: formatDuration(c.resolution_seconds) }) }) : null,
    ];
    return h('li', { class: 'complaint-card', dataset: { id: c.id } },
      h('a', { class: 'cc-ticket', href: ticketHref(c.ticket_id) },
        h('span', { class: 'fb-number', text: `#${c.ticket_number}` }), ' ', h('span', { text: c.ticket_subject || lt('ticket.noSubject') })),
      c.outcome_note ? h('p', { class: 'cc-note', text: c.outcome_note }) : null,
      h('p', { class: 'cc-facts muted' }, facts),
      h('button', {
        type: 'button',
        class: 'small cc-edit',
        'aria-expanded': editing ? 'true' : 'false',
        'aria-label': lt('complaints.editLabel', { number: c.ticket_number }),
        dataset: { focusKey: `edit-${c.id}` },
        text: lt('complaints.edit'),
        onclick: () => this.toggle(c.id),
      }),
      editing ? this.renderForm(c) : null);
  }

  renderForm(c) {
    const id = (name) => `cc-${c.id}-${name}`;
    const error = this.errors.get(c.id) || '';
    const busy = this.saving === c.id;
    const outcome = selectField(id('outcome'), 'outcome', lt('complaints.outcome'), [['', lt('complaints.noOutcome')], ...OUTCOMES.map((o) => [o, word('outcome', o)])], c.outcome ?? '');
    outcome.querySelector('select').setAttribute('aria-describedby', id('outcome-hint'));
    return h('form', { class: 'stack-form complaint-form', dataset: { id: c.id }, novalidate: true, onsubmit: (e) => { e.preventDefault(); guard(this, this.save(c, e.currentTarget)); } },
      selectField(id('state'), 'state', lt('complaints.state'), STATES.map((s) => [s, word('cstate', s)]), c.state),
      selectField(id('owner'), 'owner_id', lt('complaints.owner'), agentOptions(lt('complaints.noOwner')), c.owner_id ?? ''),
      outcome,
      h('p', { class: 'muted field-hint', id: id('outcome-hint'), text: lt('complaints.needOutcome') }),
      h('div', { class: 'field compact' },
        h('label', { for: id('note'), text: lt('complaints.note') }),
        h('textarea', { id: id('note'), name: 'outcome_note', rows: 2, value: c.outcome_note || '' })),
      h('p', { class: 'form-error', role: 'alert', text: error }),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary', disabled: busy, text: busy ? lt('complaints.saving') : lt('complaints.save') }),
        h('button', { type: 'button', text: lt('common.close'), onclick: () => this.toggle(c.id) })));
  }

  toggle(id) {
    this.editing = this.editing === id ? null : id;
    this.errors.delete(id);
    this.render();
    const card = this.board.querySelector(`.complaint-card[data-id="${id}"]`);
    if (!card) return;
    const target = this.editing === id ? card.querySelector('select[name=state]') : card.querySelector('button.cc-edit');
    if (target) target.focus();
  }

  /** Sends only what changed; the server's 400 (say, no outcome) stays on the card. */
  async save(c, form) {
    const values = Object.fromEntries(new FormData(form).entries());
    const body = {};
    if (values.state !== c.state) body.state = values.state;
    const owner = values.owner_id ? Number(values.owner_id) : null;
    if (owner !== (c.owner_id ?? null)) body.owner_id = owner;
    if (values.outcome && values.outcome !== c.outcome) body.outcome = values.outcome;
    const note = String(values.outcome_note || '').trim();
    if (note !== (c.outcome_note || '')) body.outcome_note = note;
    if (!Object.keys(body).length) {
      this.toggle(c.id);
      return;
    }
    this.saving = c.id;
    this.errors.delete(c.id);
    this.render();
    try {
      const updated = await api.patch(`/complaints/${c.id}`, body);
      this.items.set(updated.id, updated);
      this.editing = null;
      this.saving = null;
      this.render();
      announce(this, lt('complaints.saved', { number: updated.ticket_number }));
      const edit = this.board.querySelector(`.complaint-card[data-id="${updated.id}"] button.cc-edit`);
      if (edit) edit.focus();
    } catch (error) {
      this.saving = null;
      if (error.status === 401 || error.status === 403) throw error;
      this.errors.set(c.id, error.userMessage || String(error.message || error));
      // Keep what the lead chose: render, then put the values back.
      this.render();
      const again = this.board.querySelector(`.complaint-card[data-id="${c.id}"] form`);
      if (again) {
        for (const [name, value] of Object.entries(values)) if (again.elements[name]) again.elements[name].value = value;
        const field = error.field && again.elements[error.field];
        (field || again.querySelector('.form-error')).focus?.();
      }
    }
  }
}

customElements.define('sb-complaints', SbComplaints);
