// The reply / internal-note composer under the timeline; keeps a draft per ticket, with
// the files attached to a reply (uploaded as soon as they are chosen).
import { api } from './api.js';
import { h, announce, report, rerender } from './dom.js';
import { t, label, formatBytes, modKey, onLangChange } from './i18n.js';

/** Channels whose replies carry files. */
const FILE_CHANNELS = new Set(['email']);
/** Most files one reply carries (the server's limit). */
const MAX_FILES = 20;
let fileKeys = 0;

class SbComposer extends HTMLElement {
  constructor() {
    super();
    this.ticketId = null;
    this.channel = null;
    this.mode = 'reply';
    this.drafts = new Map();
    this.files = [];
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
    // A real file input, visually replaced by its label; it keeps the keyboard focus.
    this.fileInput = h('input', {
      type: 'file', id: 'composer-files', name: 'files', multiple: true, class: 'file-input visually-hidden',
      onchange: () => this.addFiles(),
    });
    this.fileLabel = h('label', { for: 'composer-files', class: 'attach-label' });
    this.attach = h('span', { class: 'composer-attach' }, this.fileInput, this.fileLabel);
    this.fileList = h('ul', { class: 'composer-files' });
    this.form = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h('div', { class: 'composer-top' }, this.modes, this.label), this.text, this.fileList,
      h('div', { class: 'composer-actions' }, this.attach, this.hint, h('span', { class: 'spacer' }), this.pendingButton, this.sendButton));
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
      this.files = draft ? draft.files : [];
    }
    this.channel = channel;
    this.render();
  }

  saveDraft() {
    if (!this.ticketId) return;
    if (this.text.value || this.files.length) this.drafts.set(this.ticketId, { mode: this.mode, text: this.text.value, files: this.files });
    else this.drafts.delete(this.ticketId);
  }

  /** True when replies on this ticket's channel can carry files. */
  takesFiles() {
    return FILE_CHANNELS.has(this.channel);
  }

  uploading() {
    return this.files.some((f) => f.status === 'uploading');
  }

  /** Uploads every file just chosen, each at once; they show as chips meanwhile. */
  addFiles() {
    const chosen = [...(this.fileInput.files || [])];
    this.fileInput.value = ''; // the same file can be chosen again
    if (!chosen.length || !this.ticketId) return;
    const files = this.files;
    for (const file of chosen) {
      const entry = { key: `f${++fileKeys}`, name: file.name, size: file.size, status: 'uploading', reason: '', upload: null, controller: null };
      files.push(entry);
      if (files.filter((f) => f.status !== 'failed').length > MAX_FILES) {
        this.failed(entry, t('composer.tooMany', { count: MAX_FILES }));
      } else {
        this.upload(entry, file, files);
      }
    }
    this.saveDraft();
    this.render();
  }

  async upload(entry, file, files) {
    entry.controller = new AbortController();
    try {
      entry.upload = await api.upload(file, entry.controller.signal);
      entry.status = 'done';
      if (files === this.files) announce(this, t('composer.fileAdded', { name: entry.name }));
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      const reason = error && error.status === 413 ? t('composer.tooLarge')
        : (error && error.userMessage) || String((error && error.message) || error);
      this.failed(entry, reason);
    } finally {
      entry.controller = null;
      if (files === this.files) this.render();
    }
  }

  failed(entry, reason) {
    entry.status = 'failed';
    entry.reason = reason;
    if (this.files.includes(entry)) announce(this, `${entry.name}: ${t('composer.uploadFailed', { reason })}`);
  }

  /** Drops a file (stopping its upload) and keeps the focus among the chips. */
  removeFile(entry) {
    const at = this.files.indexOf(entry);
    if (at < 0) return;
    if (entry.controller) entry.controller.abort();
    this.files.splice(at, 1);
    this.saveDraft();
    this.render();
    const next = this.files[Math.min(at, this.files.length - 1)];
    const target = next ? this.fileList.querySelector(`[data-focus-key="file-${next.key}"]`) : this.fileInput;
    if (target) target.focus();
    announce(this, t('composer.fileRemoved', { name: entry.name }));
  }

  renderFiles(show) {
    this.fileList.hidden = !show || !this.files.length;
    this.fileList.setAttribute('aria-label', t('composer.files'));
    rerender(this.fileList, () => this.files.map((f) => h('li', { class: `file-chip is-${f.status}`, dataset: { fileKey: f.key } },
      h('span', { class: 'file-name', text: f.name }),
      f.status === 'failed'
        ? h('span', { class: 'file-error', text: t('composer.uploadFailed', { reason: f.reason }) })
        : h('span', { class: 'file-size', text: f.status === 'uploading' ? `${formatBytes(f.size)} · ${t('composer.uploading')}` : formatBytes(f.size) }),
      h('button', {
        type: 'button', class: 'file-remove', text: '×', 'aria-label': t('composer.removeFile', { name: f.name }),
        dataset: { focusKey: `file-${f.key}` }, disabled: this.sending, onclick: () => this.removeFile(f),
      }))));
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
    const files = !note && ready && this.takesFiles();
    const waiting = files && this.uploading();
    this.hint.textContent = waiting ? t('composer.waitUploads') : t('composer.hint', { key: modKey() });
    this.pendingButton.textContent = t('composer.sendPending');
    this.pendingButton.hidden = note;
    this.sendButton.textContent = this.sending ? t('composer.sending') : note ? t('composer.addNote') : t('composer.send');
    this.text.disabled = !ready;
    for (const button of [this.replyButton, this.noteButton]) button.disabled = !ready || this.sending;
    for (const button of [this.pendingButton, this.sendButton]) button.disabled = !ready || this.sending || waiting;
    this.attach.hidden = !files;
    this.fileInput.disabled = !files || this.sending;
    this.fileLabel.textContent = t('composer.attach');
    this.renderFiles(files);
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
    const withFiles = !note && this.takesFiles();
    if (withFiles && this.uploading()) {
      report(this, new Error(t('composer.waitUploads')));
      return;
    }
    const files = withFiles ? this.files.filter((f) => f.status === 'done' && f.upload) : [];
    this.sending = true;
    this.render();
    try {
      const body = note ? { text } : status ? { text, status } : { text };
      if (files.length) {
        body.attachments = files.map((f) => ({ sha256: f.upload.sha256, filename: f.upload.filename, content_type: f.upload.content_type }));
      }
      const message = await api.post(`/tickets/${ticketId}/${note ? 'note' : 'reply'}`, body);
      if (this.ticketId === ticketId) {
        this.text.value = '';
        if (!note) this.files = [];
        this.saveDraft(); // a note leaves the reply's files where they are
      } else {
        const draft = this.drafts.get(ticketId);
        if (note && draft && draft.files.length) draft.text = '';
        else this.drafts.delete(ticketId);
      }
      this.dispatchEvent(new CustomEvent('sb-message-sent', { bubbles: true, detail: { ticketId, message, status: status || null, files: files.length } }));
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
