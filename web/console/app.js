// The console shell <sb-app>: layout, live wiring, routing and shortcuts on the shared session shell.
import { guard, h, isTyping } from './dom.js';
import { t } from './i18n.js';
import { isLead, Shell } from './shell.js';
import './queue.js';
import './ticket.js';
import './contact.js';
import './presence.js';
import './help.js';
import { rememberContact, rememberTicket } from './call.js';
import './calllog.js';
import { applySlaEvent, loadSlaPolicies } from './sla.js';
import './search.js';

const FIRST_SYNC_WAIT = 4000;

class SbApp extends Shell {
  connectedCallback() {
    if (this.live) return;
    this.connection = h('div', { class: 'connection', role: 'status' });
    super.connectedCallback();
    this.live.addEventListener('state', (e) => this.renderConnection(e.detail));
    this.live.addEventListener('synced', (e) => {
      if (e.detail.reconnect) return; // Live calls resync() itself
      if (this.firstSync) this.firstSync();
      else if (this.dataset.state === 'ready') guard(this, this.resync()); // connected only after the first load
    });
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
    document.addEventListener('keydown', (e) => this.onKey(e));
  }

  forgetViews() {
    this.generation = (this.generation || 0) + 1;
    this.firstSync = null;
    this.queue = this.ticket = this.contact = this.presence = this.help = null;
    this.calls = this.callLog = this.callsLink = this.search = null;
    this.renderConnection('closed');
  }

  async enter(session) {
    const generation = (this.generation || 0) + 1;
    this.generation = generation;
    super.enter(session);
    this.dataset.state = 'loading';
    this.buildMain();
    this.live.start();
    this.live.subscribe(['queue', 'presence', 'calls', ...(session.team_ids || []).map((id) => `team:${id}`)]);
    const names = Promise.all([this.loadDirectory(), loadSlaPolicies()]);
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
    super.renderChrome();
    if (!this.header) return;
    this.nav.setAttribute('aria-label', t('queue.label'));
    this.contactColumn.setAttribute('aria-label', t('contact.label'));
    this.callsLink.replaceChildren(
      h('span', { class: 'nav-icon', 'aria-hidden': 'true', text: '☎' }),
      h('span', { text: t('calls.nav') }));
    this.callsLink.title = t('calls.navLabel');
    this.renderTopbar([
      this.search,
      this.connection,
      h('span', { class: 'spacer' }),
      isLead(this.role) ? h('a', { class: 'lead-link', href: '/lead', text: t('header.lead') }) : null,
    ], h('button', { type: 'button', class: 'ghost help-button', 'aria-keyshortcuts': '?', text: t('header.help'), onclick: () => this.help.open() }));
    this.renderConnection(this.live.state);
  }

  renderConnection(state) {
    this.dataset.live = state;
    const text = state === 'reconnecting' ? t('conn.reconnecting') : '';
    if (this.connection.textContent !== text) this.connection.textContent = text;
    this.connection.classList.toggle('is-visible', Boolean(text));
  }

  async logout() {
    await super.logout();
    history.replaceState(null, '', location.pathname + location.search);
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
      this.queue.load(), this.queue.loadCounts(), this.ticket.reload(), this.contact.reload(), this.loadDirectory(), loadSlaPolicies(),
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
}

customElements.define('sb-app', SbApp);
