// The console shell <sb-app>: session, layout, live wiring, routing, shortcuts and error display.
import { api, session as apiSession, setCsrf } from './api.js';
import { Live } from './live.js';
import { h, guard, isTyping, pushError, rerender } from './dom.js';
import { t, getLang, setLang, LANGUAGES, onLangChange } from './i18n.js';
import { directory, setDirectory } from './state.js';
import './login.js';
import './queue.js';
import './ticket.js';
import './contact.js';
import './presence.js';
import './help.js';
import { rememberContact, rememberTicket } from './call.js';
import './calllog.js';
import { applySlaEvent } from './sla.js';
import './search.js';

const ERROR_FOR = 15000;
const ANNOUNCE_FOR = 10000;
const FIRST_SYNC_WAIT = 4000;

class SbApp extends HTMLElement {
  connectedCallback() {
    if (this.live) return;
    this.live = new Live({ onResync: () => this.resync(), checkSession: () => this.checkSession() });
    this.live.addEventListener('message', (e) => this.onLive(e.detail));
    this.live.addEventListener('state', (e) => this.renderConnection(e.detail));
    this.live.addEventListener('synced', (e) => {
      if (e.detail.reconnect) return; // Live calls resync() itself
      if (this.firstSync) this.firstSync();
      else if (this.dataset.state === 'ready') guard(this, this.resync()); // connected only after the first load
    });
    apiSession.addEventListener('unauthorized', () => this.signedOut());
    this.addEventListener('sb-error', (e) => this.showError(e.detail));
    this.addEventListener('sb-announce', (e) => this.announce(e.detail));
    this.addEventListener('sb-signed-in', (e) => guard(this, this.enter(e.detail)));
    this.addEventListener('sb-ticket-loaded', (e) => guard(this, this.contact && this.contact.show(e.detail.contact_id, e.detail.id)));
    this.addEventListener('sb-ticket-changed', (e) => { this.queue.applyTicket(e.detail); this.contact.applyTicket(e.detail); });
    this.addEventListener('sb-contact-loaded', (e) => {
      rememberContact(e.detail);
      // The panel may show another contact than the ticket's (a caller's, from a call card).
      const ticket = this.ticket && this.ticket.ticket;
      if (ticket && ticket.contact_id === e.detail.id) this.ticket.setContactName(e.detail.name);
    });
    this.addEventListener('sb-show-contact', (e) => guard(this, this.showContact(e.detail)));
    this.addEventListener('sb-contact-merged', () => guard(this, this.ticket && this.ticket.reload()));
    this.addEventListener('sb-typing', () => this.live.typing());
    window.addEventListener('hashchange', () => this.route());
    document.addEventListener('keydown', (e) => this.onKey(e));
    window.addEventListener('unhandledrejection', (e) => {
      e.preventDefault();
      this.showError(e.reason);
    });
    onLangChange(() => this.renderChrome());

    this.errors = h('div', { class: 'errors', 'aria-live': 'assertive', 'aria-atomic': 'false' });
    this.announcer = h('div', { class: 'visually-hidden announcer', 'aria-live': 'polite', role: 'log' });
    this.connection = h('div', { class: 'connection', role: 'status' });
    this.view = h('div', { class: 'view' });
    this.replaceChildren(this.errors, this.announcer, this.view);
    this.boot();
  }

  async boot() {
    this.dataset.state = 'loading';
    this.view.replaceChildren(h('p', { class: 'boot muted', text: t('app.loading') }));
    try {
      const session = await api.get('/session');
      await this.enter(session);
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
      const session = await api.get('/session');
      setCsrf(session.csrf_token);
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
    this.generation = (this.generation || 0) + 1;
    this.live.stop();
    setCsrf(null);
    this.firstSync = null;
    this.loggingOut = false;
    this.queue = this.ticket = this.contact = this.presence = this.help = this.header = null;
    this.calls = this.callLog = this.callsLink = this.search = null;
    this.dataset.state = 'login';
    this.renderConnection('closed');
    const login = h('sb-login');
    if (expired) login.notice = 'login.expired';
    this.langBox = h('div', { class: 'lang-box' });
    this.view.replaceChildren(h('div', { class: 'login-page' }, h('div', { class: 'login-card' }, this.langBox, login)));
    this.renderChrome();
  }

  async enter(session) {
    const generation = (this.generation || 0) + 1;
    this.generation = generation;
    setCsrf(session.csrf_token);
    const teamIds = session.team_ids || [];
    setDirectory({ me: session.agent, teamIds });
    this.role = session.role;
    this.dataset.state = 'loading';
    this.buildMain();
    this.live.start();
    this.live.subscribe(['queue', 'presence', 'calls', ...teamIds.map((id) => `team:${id}`)]);
    const names = this.loadDirectory();
    // Read the queue only once the live topics are in, so nothing falls between the two.
    await new Promise((resolve) => {
      this.firstSync = resolve;
      setTimeout(resolve, FIRST_SYNC_WAIT);
    });
    if (generation !== this.generation || !this.queue) return; // signed out meanwhile
    this.firstSync = null;
    this.route();
    const results = await Promise.allSettled([this.queue.load(), this.queue.loadCounts(), names]);
    if (generation !== this.generation) return;
    for (const r of results) if (r.status === 'rejected') this.showError(r.reason);
    if (this.dataset.state === 'loading' && this.queue) this.dataset.state = 'ready';
  }

  async loadDirectory() {
    const [agents, teams] = await Promise.all([api.get('/agents'), api.get('/teams')]);
    setDirectory({ agents: agents || [], teams: teams || [] });
  }

  buildMain() {
    this.header = h('header', { class: 'topbar' });
    this.queue = h('sb-queue');
    this.presence = h('sb-presence');
    this.ticket = h('sb-ticket');
    this.contact = h('sb-contact');
    this.help = h('sb-help');
    this.search = h('sb-search');
    this.calls = h('sb-calls');
    this.callLog = h('sb-calllog', { hidden: true });
    this.callsLink = h('a', { class: 'nav-link nav-calls', href: '#calls' });
    this.nav = h('nav', { class: 'sidebar' }, h('div', { class: 'nav-links' }, this.callsLink), this.queue, this.presence);
    this.contactColumn = h('aside', { class: 'contact-column', tabindex: '-1' }, this.contact);
    this.view.replaceChildren(h('div', { class: 'shell' },
      this.header,
      h('div', { class: 'layout' },
        this.nav,
        h('div', { class: 'work' }, h('main', { class: 'ticket-column', id: 'main', tabindex: '-1' }, this.calls, this.ticket, this.callLog), this.contactColumn))),
    this.help);
    this.renderChrome();
  }

  renderChrome() {
    if (this.langBox && this.langBox.isConnected) rerender(this.langBox, () => this.langPicker('lang-login'));
    if (!this.header) return;
    this.nav.setAttribute('aria-label', t('queue.label'));
    this.contactColumn.setAttribute('aria-label', t('contact.label'));
    this.callsLink.replaceChildren(
      h('span', { class: 'nav-icon', 'aria-hidden': 'true', text: '☎' }),
      h('span', { text: t('calls.nav') }));
    this.callsLink.title = t('calls.navLabel');
    const me = this.meName();
    rerender(this.header, () => [
      h('span', { class: 'brand', text: t('app.name') }),
      this.search,
      this.connection,
      h('span', { class: 'spacer' }),
      ['lead', 'admin'].includes(this.role) ? h('a', { class: 'lead-link', href: '/lead', text: t('header.lead') }) : null,
      this.langPicker('lang-header'),
      h('span', { class: 'me', title: t('header.me', { name: me }), text: me }),
      h('button', { type: 'button', class: 'ghost help-button', 'aria-keyshortcuts': '?', text: t('header.help'), onclick: () => this.help.open() }),
      h('button', { type: 'button', class: 'logout', text: t('header.logout'), onclick: () => guard(this, this.logout()) }),
    ]);
    this.renderConnection(this.live.state);
  }

  meName() {
    return directory.me ? directory.me.name || directory.me.email : '';
  }

  langPicker(id) {
    return h('div', { class: 'lang-picker' },
      h('label', { for: id, text: t('lang.label') }),
      h('select', { id, name: 'lang', onchange: (e) => setLang(e.target.value) },
        LANGUAGES.map((lang) => h('option', { value: lang, selected: lang === getLang(), lang, text: t(`lang.${lang}`) }))));
  }

  renderConnection(state) {
    this.dataset.live = state;
    const text = state === 'reconnecting' ? t('conn.reconnecting') : '';
    if (this.connection.textContent !== text) this.connection.textContent = text;
    this.connection.classList.toggle('is-visible', Boolean(text));
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
    history.replaceState(null, '', location.pathname + location.search);
    this.showLogin(false);
  }

  route() {
    if (!this.ticket) return;
    const calls = location.hash === '#calls';
    const wasCalls = !this.callLog.hidden;
    this.callLog.hidden = !calls;
    this.ticket.hidden = calls;
    if (calls) this.callsLink.setAttribute('aria-current', 'page');
    else this.callsLink.removeAttribute('aria-current');
    if (calls && !wasCalls) guard(this, this.callLog.open());
    const match = /^#ticket\/(\d+)$/.exec(location.hash);
    const id = match ? Number(match[1]) : null;
    if (id === this.ticket.ticketId) return;
    this.queue.select(id);
    this.live.view(id);
    const known = id && this.queue.items.get(id);
    if (!id && !calls) this.contact.clear();
    else if (known) guard(this, this.contact.show(known.contact_id, id));
    guard(this, this.ticket.open(id));
  }

  /** Shows a contact in the right column (from a call card or the caller log). */
  async showContact({ contactId, created }) {
    if (!this.contact || !contactId) return;
    const ticket = this.ticket.ticket;
    await this.contact.show(contactId, ticket && ticket.contact_id === contactId ? ticket.id : null);
    if (!this.contact) return;
    // A fresh contact has no name yet: straight to its name; else to the panel.
    const target = (created && this.contact.querySelector('button.edit-name')) || this.contactColumn;
    target.focus({ preventScroll: true });
    this.contactColumn.scrollIntoView({ block: 'nearest' });
  }

  /** After a reconnect: re-read everything on screen so no missed event hides a change. */
  async resync() {
    if (!this.queue) return;
    const results = await Promise.allSettled([
      this.queue.load(), this.queue.loadCounts(), this.ticket.reload(), this.contact.reload(), this.loadDirectory(),
      this.calls.refresh(), this.callLog.reload(),
    ]);
    for (const r of results) if (r.status === 'rejected') this.showError(r.reason);
  }

  onLive(message) {
    if (!this.queue) return;
    switch (message.type) {
      case 'ticket_created':
      case 'ticket_updated':
        rememberTicket(message.ticket);
        this.queue.applyTicket(message.ticket, message.type === 'ticket_created');
        this.ticket.applyTicket(message.ticket);
        this.contact.applyTicket(message.ticket);
        break;
      case 'message_added':
      case 'message_updated': {
        const m = message.message;
        if (!m) break;
        if (message.type === 'message_added' && m.direction === 'in' && m.ticket_id === this.ticket.ticketId && !this.ticket.messages.has(m.id)) {
          this.announce(t('announce.message', { number: this.ticket.ticket ? this.ticket.ticket.number : m.ticket_id }));
        }
        this.ticket.applyMessage(m);
        if (message.type === 'message_added') this.queue.applyMessage(message.ticket_id, m);
        break;
      }
      case 'presence':
        this.presence.setOnline(message.agents);
        break;
      case 'viewing':
        this.ticket.applyViewing(message);
        break;
      case 'customer_typing':
        this.ticket.applyCustomerTyping(message);
        break;
      case 'sla_warning':
      case 'sla_breached':
        applySlaEvent(message);
        this.queue.updateTimes();
        this.ticket.refreshSla();
        break;
      case 'call':
        this.calls.applyCall(message.call, message.card);
        this.callLog.applyCall(message.call);
        break;
      case 'session_ended':
        if (!this.loggingOut) guard(this, this.checkSession());
        break;
      case 'error':
        this.showError(new Error(t('problem.live', { detail: message.detail || '' })));
        break;
      default:
        break;
    }
  }

  onKey(e) {
    if (this.dataset.state !== 'ready' || e.defaultPrevented || !this.ticket) return;
    const target = e.target;
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      if (this.ticket.composer.contains(target)) {
        e.preventDefault();
        guard(this, this.ticket.send());
      }
      return;
    }
    if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'k') {
      if (document.querySelector('dialog[open]')) return;
      e.preventDefault();
      this.search.focusInput();
      return;
    }
    if (e.key === 'Escape') {
      if (isTyping(target) && this.ticket.composer.contains(target)) target.blur();
      else if (!isTyping(target) && !document.querySelector('dialog[open]') && this.calls.dismissNewest()) e.preventDefault();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || isTyping(target)) return;
    if (document.querySelector('dialog[open]')) return;
    switch (e.key) {
      case 'j': this.queue.move(1); break;
      case 'k': this.queue.move(-1); break;
      case 'o': this.queue.openCursor(); break;
      case 'Enter':
        if (target instanceof Element && target.closest('a, button, summary, select, [role=button]')) return;
        this.queue.openCursor();
        break;
      case 'r': this.ticket.focusComposer('reply'); break;
      case 'n': this.ticket.focusComposer('note'); break;
      case 'a': guard(this, this.ticket.assignToMe()); break;
      case 'e': guard(this, this.ticket.resolve()); break;
      case '/': this.search.focusInput(); break;
      case '?': this.help.open(); break;
      default: return;
    }
    e.preventDefault();
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

customElements.define('sb-app', SbApp);
