// The team-lead shell <sb-lead>: the console's session and sign-in, the lead-role check,
// tabs for feedback, complaints and reports, the live "feedback" topic, errors and toasts.
import { api, session as apiSession, setCsrf } from '../console/api.js';
import { Live } from '../console/live.js';
import { h, guard, pushError, rerender } from '../console/dom.js';
import { getLang, setLang, LANGUAGES, onLangChange, t } from '../console/i18n.js';
import { directory, setDirectory } from '../console/state.js';
import '../console/login.js';
import { lt } from './strings.js';
import './feedback.js';
import './complaints.js';
import './reports.js';

const ERROR_FOR = 15000;
const TOAST_FOR = 10000;
const VIEWS = ['feedback', 'complaints', 'reports'];
const LEAD_ROLES = ['lead', 'admin'];

class SbLead extends HTMLElement {
  connectedCallback() {
    if (this.live) return;
    this.live = new Live({ onResync: () => this.resync(), checkSession: () => this.checkSession() });
    this.live.addEventListener('message', (e) => this.onLive(e.detail));
    apiSession.addEventListener('unauthorized', () => this.signedOut());
    this.addEventListener('sb-error', (e) => this.showError(e.detail));
    this.addEventListener('sb-announce', (e) => this.announce(e.detail));
    this.addEventListener('sb-signed-in', (e) => guard(this, this.enter(e.detail)));
    window.addEventListener('hashchange', () => this.route());
    window.addEventListener('unhandledrejection', (e) => {
      e.preventDefault();
      this.showError(e.reason);
    });
    onLangChange(() => this.renderChrome());

    this.errors = h('div', { class: 'errors', 'aria-live': 'assertive', 'aria-atomic': 'false' });
    this.announcer = h('div', { class: 'visually-hidden announcer', 'aria-live': 'polite', role: 'log' });
    this.toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    this.view = h('div', { class: 'view' });
    this.replaceChildren(this.errors, this.announcer, this.toasts, this.view);
    this.boot();
  }

  async boot() {
    this.dataset.state = 'loading';
    this.view.replaceChildren(h('p', { class: 'boot muted', text: t('app.loading') }));
    try {
      await this.enter(await api.get('/session'));
    } catch (error) {
      if (error.status === 401) {
        if (this.dataset.state !== 'login') this.showLogin(false);
      } else {
        this.dataset.state = 'failed';
        this.view.replaceChildren(h('div', { class: 'boot' },
          h('p', { class: 'form-error', text: `${t('app.failed')} ${error.userMessage || error.message || ''}` }),
          h('button', { type: 'button', class: 'primary', text: t('app.retry'), onclick: () => this.boot() })));
      }
    }
  }

  async checkSession() {
    try {
      setCsrf((await api.get('/session')).csrf_token);
      return true;
    } catch (error) {
      return error.status !== 401;
    }
  }

  signedOut() {
    if (this.loggingOut || this.dataset.state === 'login') return;
    this.showLogin(this.dataset.state === 'ready');
  }

  showLogin(expired) {
    this.live.stop();
    setCsrf(null);
    this.loggingOut = false;
    this.header = this.panels = null;
    this.dataset.state = 'login';
    const login = h('sb-login');
    if (expired) login.notice = 'login.expired';
    this.langBox = h('div', { class: 'lang-box' });
    this.view.replaceChildren(h('div', { class: 'login-page' }, h('div', { class: 'login-card' }, this.langBox, login)));
    this.renderChrome();
  }

  async enter(session) {
    setCsrf(session.csrf_token);
    setDirectory({ me: session.agent, teamIds: session.team_ids || [] });
    this.role = session.role;
    if (!LEAD_ROLES.includes(this.role)) {
      this.forbidden();
      return;
    }
    this.buildMain();
    this.live.start();
    this.live.subscribe(['feedback']);
    this.dataset.state = 'ready';
    try {
      const [agents, teams] = await Promise.all([api.get('/agents'), api.get('/teams')]);
      setDirectory({ agents: agents || [], teams: teams || [] });
    } catch (error) {
      this.showError(error);
    }
    this.route();
  }

  /** A signed-in agent without the lead role: the refusal and nothing else. */
  forbidden() {
    this.live.stop();
    this.panels = null;
    this.dataset.state = 'forbidden';
    this.header = h('header', { class: 'topbar' });
    this.view.replaceChildren(h('div', { class: 'shell' }, this.header,
      h('main', { class: 'forbidden', id: 'main', tabindex: '-1' },
        h('h1', { class: 'forbidden-title', text: lt('lead.forbidden') }),
        h('p', { class: 'muted', text: lt('lead.forbiddenHint') }),
        h('p', {}, h('a', { href: '/', text: lt('lead.console') })))));
    this.renderChrome();
  }

  buildMain() {
    this.header = h('header', { class: 'topbar' });
    this.tabs = new Map(VIEWS.map((name) => [name, h('a', { class: 'lead-tab', href: `#${name}`, dataset: { view: name } })]));
    this.nav = h('nav', { class: 'lead-nav' }, [...this.tabs.values()]);
    this.panels = {
      feedback: h('sb-feedback-stream'),
      complaints: h('sb-complaints', { hidden: true }),
      reports: h('sb-reports', { hidden: true }),
    };
    this.main = h('main', { class: 'lead-main', id: 'main', tabindex: '-1' }, Object.values(this.panels));
    this.view.replaceChildren(h('div', { class: 'shell lead-shell' }, this.header, this.nav, this.main));
    this.renderChrome();
  }

  renderChrome() {
    document.title = lt('lead.title');
    if (this.langBox && this.langBox.isConnected) rerender(this.langBox, () => this.langPicker('lang-login'));
    if (!this.header) return;
    if (this.nav) {
      this.nav.setAttribute('aria-label', lt('lead.nav'));
      for (const [name, tab] of this.tabs) tab.textContent = lt(`lead.${name}`);
    }
    const me = directory.me ? directory.me.name || directory.me.email : '';
    rerender(this.header, () => [
      h('span', { class: 'brand', text: t('app.name') }),
      h('a', { class: 'console-link', href: '/', text: lt('lead.console') }),
      h('span', { class: 'spacer' }),
      this.langPicker('lang-header'),
      h('span', { class: 'me', title: t('header.me', { name: me }), text: me }),
      h('button', { type: 'button', class: 'logout', text: t('header.logout'), onclick: () => guard(this, this.logout()) }),
    ]);
  }

  langPicker(id) {
    return h('div', { class: 'lang-picker' },
      h('label', { for: id, text: t('lang.label') }),
      h('select', { id, name: 'lang', onchange: (e) => setLang(e.target.value) },
        LANGUAGES.map((lang) => h('option', { value: lang, selected: lang === getLang(), lang, text: t(`lang.${lang}`) }))));
  }

  route() {
    if (!this.panels) return;
    const name = location.hash.replace(/^#/, '');
    const current = VIEWS.includes(name) ? name : 'feedback';
    for (const [view, tab] of this.tabs) {
      if (view === current) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    for (const [view, panel] of Object.entries(this.panels)) panel.hidden = view !== current;
    guard(this, this.panels[current].show());
  }

  async logout() {
    this.loggingOut = true;
    try {
      await api.del('/session');
    } catch (error) {
      if (error.status !== 401) {
        this.loggingOut = false;
        throw error;
      }
    }
    this.header = null;
    this.showLogin(false);
  }

  /** After a reconnect: re-read what is on screen, so no missed event hides a change. */
  async resync() {
    if (!this.panels) return;
    const panels = Object.values(this.panels);
    // Hidden views read afresh when they are next shown.
    for (const p of panels) if (p.hidden) p.loaded = false;
    await Promise.all(panels.filter((p) => !p.hidden && p.loaded).map((p) => p.reload()));
  }

  onLive(message) {
    if (!this.panels) return;
    if (message.type === 'feedback_added' && message.feedback) {
      this.panels.feedback.applyLive(message.feedback);
      this.announce(lt('feedback.new', { number: message.feedback.ticket_number }));
    } else if (message.type === 'complaint_raised' && message.complaint) {
      this.panels.complaints.applyLive(message.complaint);
      this.toast(lt('complaints.raised', { number: message.complaint.ticket_number }), '#complaints');
    } else if (message.type === 'complaint_updated' && message.complaint) {
      this.panels.complaints.applyLive(message.complaint);
    } else if (message.type === 'feedback_updated' && message.feedback) {
      this.panels.feedback.applyUpdate(message.feedback);
    } else if (message.type === 'session_ended') {
      guard(this, this.checkSession());
    }
  }

  toast(text, href) {
    const item = h('div', { class: 'toast' },
      h('a', { href, text }),
      h('button', { type: 'button', class: 'ghost small', text: lt('common.close'), onclick: () => item.remove() }));
    this.toasts.append(item);
    while (this.toasts.children.length > 3) this.toasts.firstElementChild.remove();
    setTimeout(() => item.remove(), TOAST_FOR);
  }

  showError(error) {
    if (!error || error.status === 401) return;
    if (error.status === 403 && this.panels) {
      this.forbidden();
      return;
    }
    pushError(this.errors, error, t('errors.dismiss'), ERROR_FOR);
  }

  announce(text) {
    if (!text) return;
    const line = h('p', { text });
    this.announcer.append(line);
    setTimeout(() => line.remove(), TOAST_FOR);
  }
}

customElements.define('sb-lead', SbLead);
