// The session shell the console <sb-app> and the lead page <sb-lead> share: boot, sign-in, sign-out, top bar, errors.
import { api, session as apiSession, setCsrf } from './api.js';
import { Live } from './live.js';
import { h, guard, pushError, rerender } from './dom.js';
import { t, getLang, setLang, LANGUAGES, onLangChange } from './i18n.js';
import { directory, setDirectory } from './state.js';
import './login.js';

const ERROR_FOR = 15000;
const ANNOUNCE_FOR = 10000;

/** Whether a role may use the lead views. */
export const isLead = (role) => ['lead', 'admin'].includes(role);

/**
 * A page element for signed-in agents. The page supplies `enter(session)` (calling
 * super's first), `buildMain()` (setting `this.header`), `route()`, `resync()` and
 * `onLive(message)`, and may supply `forgetViews()`, run when the sign-in page replaces it.
 * `dataset.state`: loading, failed, login, ready, or a page's own.
 */
export class Shell extends HTMLElement {
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
    this.view = h('div', { class: 'view' });
    this.replaceChildren(this.errors, this.announcer, this.view);
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

  /** Whether the session still holds (network trouble counts as yes); renews the CSRF token. */
  async checkSession() {
    try {
      setCsrf((await api.get('/session')).csrf_token);
      return true;
    } catch (error) {
      return error.status !== 401;
    }
  }

  /** Takes a session: its CSRF token, who is signed in, and the role. */
  enter(session) {
    setCsrf(session.csrf_token);
    setDirectory({ me: session.agent, teamIds: session.team_ids || [] });
    this.role = session.role;
  }

  async loadDirectory() {
    const [agents, teams] = await Promise.all([api.get('/agents'), api.get('/teams')]);
    setDirectory({ agents: agents || [], teams: teams || [] });
  }

  signedOut() {
    if (this.loggingOut || this.dataset.state === 'login') return;
    this.showLogin(this.dataset.state === 'ready');
  }

  showLogin(expired) {
    this.forgetViews();
    this.live.stop();
    setCsrf(null);
    this.loggingOut = false;
    this.header = null;
    this.dataset.state = 'login';
    const login = h('sb-login');
    if (expired) login.notice = 'login.expired';
    this.langBox = h('div', { class: 'lang-box' });
    this.view.replaceChildren(h('div', { class: 'login-page' }, h('div', { class: 'login-card' }, this.langBox, login)));
    this.renderChrome();
  }

  forgetViews() {}

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
    this.showLogin(false);
  }

  /** Redraws the texts of the current language; a page adds its own after calling this. */
  renderChrome() {
    if (this.langBox && this.langBox.isConnected) rerender(this.langBox, () => this.langPicker('lang-login'));
  }

  /** The top bar: the brand, the page's `items`, the language, who is signed in, `tools`, sign-out. */
  renderTopbar(items, tools = null) {
    const me = directory.me ? directory.me.name || directory.me.email : '';
    rerender(this.header, () => [
      h('span', { class: 'brand', text: t('app.name') }),
      items,
      this.langPicker('lang-header'),
      h('span', { class: 'me', title: t('header.me', { name: me }), text: me }),
      tools,
      h('button', { type: 'button', class: 'logout', text: t('header.logout'), onclick: () => guard(this, this.logout()) }),
    ]);
  }

  langPicker(id) {
    return h('div', { class: 'lang-picker' },
      h('label', { for: id, text: t('lang.label') }),
      h('select', { id, name: 'lang', onchange: (e) => setLang(e.target.value) },
        LANGUAGES.map((lang) => h('option', { value: lang, selected: lang === getLang(), lang, text: t(`lang.${lang}`) }))));
  }

  showError(error) {
    if (!error || error.status === 401) return;
    pushError(this.errors, error, t('errors.dismiss'), ERROR_FOR);
  }

  announce(text) {
    if (!text) return;
    const line = h('p', { text });
    this.announcer.append(line);
    setTimeout(() => line.remove(), ANNOUNCE_FOR);
  }
}
