// Which agents are online right now, by name.
import { fill, h } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { agentName, directoryChanges, myId } from './state.js';

class SbPresence extends HTMLElement {
  constructor() {
    super();
    this.online = [];
    this.rerender = () => this.render();
  }

  connectedCallback() {
    this.unlisten = onLangChange(this.rerender);
    directoryChanges.addEventListener('change', this.rerender);
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
    directoryChanges.removeEventListener('change', this.rerender);
  }

  setOnline(ids) {
    this.online = Array.isArray(ids) ? ids : [];
    this.render();
  }

  render() {
    const me = myId();
    const people = this.online
      .map((id) => ({ id, name: agentName(id), me: id === me }))
      .sort((a, b) => (b.me - a.me) || a.name.localeCompare(b.name));
    fill(this,
      h('h2', { class: 'section-title', id: 'presence-title' }, t('presence.label'), ' ', h('span', { class: 'count', text: String(people.length) })),
      people.length
        ? h('ul', { class: 'presence-list', 'aria-labelledby': 'presence-title' },
          people.map((p) => h('li', { class: p.me ? 'agent is-me' : 'agent', dataset: { agentId: p.id } },
            h('span', { class: 'online-dot', 'aria-hidden': 'true' }),
            h('span', { class: 'agent-name', text: p.name }),
            p.me ? h('span', { class: 'muted', text: ` ${t('presence.you')}` }) : null)))
        : h('p', { class: 'muted', text: t('presence.nobody') }));
  }
}

customElements.define('sb-presence', SbPresence);
