// The sign-in form; on success it hands the new session to the page's shell (shell.js).
import { api } from './api.js';
import { h } from './dom.js';
import { t, onLangChange } from './i18n.js';

class SbLogin extends HTMLElement {
  constructor() {
    super();
    this.busy = false;
    this.error = '';
    this.notice = '';
    this.email = '';
  }

  connectedCallback() {
    this.unlisten = onLangChange(() => this.render());
    this.render();
    const email = this.querySelector('input[name=email]');
    if (email) email.focus();
  }

  disconnectedCallback() {
    if (this.unlisten) this.unlisten();
  }

  render() {
    const focusedName = this.contains(document.activeElement) ? document.activeElement.name : null;
    const password = this.querySelector('input[name=password]');
    const keepPassword = password ? password.value : '';
    const form = h('form', { class: 'login', novalidate: true, onsubmit: (e) => this.submit(e) },
      h('h1', { class: 'login-title', text: t('login.title') }),
      h('p', { class: 'login-lead', text: t('login.lead') }),
      this.notice ? h('p', { class: 'login-notice', role: 'status', text: t(this.notice) }) : null,
      h('div', { class: 'field' },
        h('label', { for: 'login-email', text: t('login.email') }),
        h('input', { id: 'login-email', name: 'email', type: 'email', autocomplete: 'username', required: true, value: this.email, oninput: (e) => { this.email = e.target.value; } })),
      h('div', { class: 'field' },
        h('label', { for: 'login-password', text: t('login.password') }),
        h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, value: keepPassword })),
      h('p', { class: 'form-error', role: 'alert', 'aria-live': 'assertive', text: this.error }),
      h('button', { type: 'submit', class: 'primary', disabled: this.busy, text: this.busy ? t('login.busy') : t('login.submit') }));
    this.replaceChildren(form);
    if (focusedName) {
      const again = this.querySelector(`[name="${focusedName}"]`);
      if (again) again.focus();
    }
  }

  async submit(event) {
    event.preventDefault();
    if (this.busy) return;
    const form = event.currentTarget;
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email || !password) {
      this.error = t('problem.bad_credentials');
      this.render();
      return;
    }
    this.busy = true;
    this.error = '';
    this.render();
    try {
      const session = await api.post('/session', { email, password });
      this.busy = false;
      this.dispatchEvent(new CustomEvent('sb-signed-in', { bubbles: true, detail: session }));
    } catch (error) {
      this.busy = false;
      this.error = error.userMessage || String(error.message || error);
      this.render();
      const field = this.querySelector('input[name=password]');
      if (field) {
        field.value = '';
        field.focus();
      }
    }
  }
}

customElements.define('sb-login', SbLogin);
