// The team-lead shell <sb-lead>: the lead-role check, tabs for feedback, complaints, reports and SLA, live feedback, toasts.
import { h, guard } from '../console/dom.js';
import { isLead, Shell } from '../console/shell.js';
import { lt } from './strings.js';
import './feedback.js';
import './complaints.js';
import './reports.js';
import './sla.js';

const TOAST_FOR = 10000;
const VIEWS = ['feedback', 'complaints', 'reports', 'sla'];

class SbLead extends Shell {
  connectedCallback() {
    if (this.live) return;
    super.connectedCallback();
    this.toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    this.view.before(this.toasts);
  }

  forgetViews() {
    this.panels = null;
  }

  async enter(session) {
    super.enter(session);
    if (!isLead(this.role)) {
      this.forbidden();
      return;
    }
    this.buildMain();
    this.live.start();
    this.live.subscribe(['feedback']);
    this.dataset.state = 'ready';
    await this.loadDirectory().catch((error) => this.showError(error));
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
      sla: h('sb-sla', { hidden: true }),
    };
    this.main = h('main', { class: 'lead-main', id: 'main', tabindex: '-1' }, Object.values(this.panels));
    this.view.replaceChildren(h('div', { class: 'shell lead-shell' }, this.header, this.nav, this.main));
    this.renderChrome();
  }

  renderChrome() {
    document.title = lt('lead.title');
    super.renderChrome();
    if (!this.header) return;
    if (this.nav) {
      this.nav.setAttribute('aria-label', lt('lead.nav'));
      for (const [name, tab] of this.tabs) tab.textContent = lt(`lead.${name}`);
    }
    this.renderTopbar([h('a', { class: 'console-link', href: '/', text: lt('lead.console') }), h('span', { class: 'spacer' })]);
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
      const words = message.reopened ? 'complaints.reopened' : 'complaints.raised';
      this.toast(lt(words, { number: message.complaint.ticket_number }), '#complaints');
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
    // Only a refused role means the page is not for this agent (the SLA tab shows its
    // own refusals of admin-only changes); a CSRF refusal is an error like any other.
    if (error && error.status === 403 && error.code === 'role' && this.panels) this.forbidden();
    else super.showError(error);
  }
}

customElements.define('sb-lead', SbLead);
