// The reply / internal-note composer under the timeline; keeps a draft per ticket.
import { api } from './api.js';
import { h, announce, report } from './dom.js';
import { t, label, modKey, onLangChange } from './i18n.js';

class SbComposer extends HTMLElement {
  constructor() {
    super();
    this.ticketId = null;
    this.channel = null;
    this.mode = 'reply';
    this.drafts = new Map();
    this.sending = false;
  }

  connectedCallback() {
    if (!this.form) this.build();
    this.unlisten = onLangChange(() => this.render());
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
  }

  build() {
    this.replyButton = h('button', { type: 'button', class: 'mode-reply', onclick: () => this.setMode('reply', true) });
    this.noteButton = h('button', { type: 'button', class: 'mode-note', onclick: () => this.setMode('note', true) });
    this.label = h('label', { for: 'composer-text', class: 'composer-label' });
    this.text = h('textarea', {
      id: 'composer-text', name: 'reply', rows: '4', 'aria-describedby': 'composer-hint',
      oninput: () => this.typed(),
    });
    this.hint = h('span', { id: 'composer-hint', class: 'composer-hint muted' });
    this.pendingButton = h('button', { type: 'button', class: 'send-pending', onclick: () => this.send('pending') });
    this.sendButton = h('button', { type: 'submit', class: 'send-reply primary' });
    this.modes = h('div', { class: 'composer-modes', role: 'group' }, this.replyButton, this.noteButton);
    this.form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h('div', { class: 'composer-top' }, this.modes, this.label), this.text,
      h('div', { class: 'composer-actions' }, this.hint, h('span', { class: 'spacer' }), this.pendingButton, this.sendButton));
    this.replaceChildren(this.form);
  }

  /** Switches to another ticket, keeping the draft of the one we leave. */
  setTicket(id, channel) {
    if (id !== this.ticketId) {
      this.saveDraft();
      this.ticketId = id;
      const draft = this.drafts.get(id);
      this.mode = draft ? draft.mode : 'reply';
      this.text.value = draft ? draft.text : '';
    }
    this.channel = channel;
    this.render();
  }

  saveDraft() {
    if (!this.ticketId) return;
    if (this.text.value) this.drafts.set(this.ticketId, { mode: this.mode, text: this.text.value });
    else this.drafts.delete(this.ticketId);
  }

  setMode(mode, focus = false) {
    this.mode = mode;
    this.render();
    if (focus) this.text.focus();
  }

  focusMode(mode) {
    if (!this.ticketId || this.text.disabled) return;
    this.setMode(mode, true);
  }

  typed() {
    this.saveDraft();
    this.dispatchEvent(new CustomEvent('sb-typing', { bubbles: true, detail: { ticketId: this.ticketId } }));
  }

  render() {
    if (!this.form) return;
    const note = this.mode === 'note';
    const ready = Boolean(this.ticketId && this.channel);
    this.form.classList.toggle('is-note', note);
    this.modes.setAttribute('aria-label', t('composer.modes'));
    this.replyButton.textContent = t('composer.reply');
    this.noteButton.textContent = t('composer.note');
    this.replyButton.setAttribute('aria-pressed', String(!note));
    this.noteButton.setAttribute('aria-pressed', String(note));
    this.label.textContent = note ? t('composer.noteLabel') : t('composer.replyVia', { channel: label('channel', this.channel || '') });
    this.hint.textContent = t('composer.hint', { key: modKey() });
    this.pendingButton.textContent = t('composer.sendPending');
    this.pendingButton.hidden = note;
    this.sendButton.textContent = this.sending ? t('composer.sending') : note ? t('composer.addNote') : t('composer.send');
    this.text.disabled = !ready;
    for (const button of [this.replyButton, this.noteButton, this.pendingButton, this.sendButton]) button.disabled = !ready || this.sending;
  }

  /** Sends the reply (optionally setting a status) or adds the note. */
  async send(status) {
    if (this.sending || !this.ticketId) return;
    const text = this.text.value;
    if (!text.trim()) {
      report(this, new Error(t('composer.empty')));
      this.text.focus();
      return;
    }
    const ticketId = this.ticketId;
    const note = this.mode === 'note';
    this.sending = true;
    this.render();
    try {
      const body = note ? { text } : status ? { text, status } : { text };
      const message = await api.post(`/tickets/${ticketId}/${note ? 'note' : 'reply'}`, body);
      this.drafts.delete(ticketId);
      if (this.ticketId === ticketId) this.text.value = '';
      this.dispatchEvent(new CustomEvent('sb-message-sent', { bubbles: true, detail: { ticketId, message, status: status || null } }));
      announce(this, note ? t('composer.noteAdded') : t('composer.sent'));
    } catch (error) {
      report(this, error);
    } finally {
      this.sending = false;
      this.render();
      if (this.ticketId === ticketId) this.text.focus();
    }
  }
}

customElements.define('sb-composer', SbComposer);
