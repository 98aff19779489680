// The keyboard shortcut help, a modal <dialog> opened with "?".
import { h } from './dom.js';
import { t, onLangChange, modKey } from './i18n.js';

const SHORTCUTS = [
  [['/', 'MOD+K'], 'shortcut.search'],
  [['j', 'k'], 'shortcut.move'],
  [['Enter', 'o'], 'shortcut.open'],
  [['r'], 'shortcut.reply'],
  [['n'], 'shortcut.note'],
  [['a'], 'shortcut.assign'],
  [['e'], 'shortcut.resolve'],
  [['MOD+Enter'], 'shortcut.send'],
  [['?'], 'shortcut.help'],
  [['Esc'], 'shortcut.escape'],
];

class SbHelp extends HTMLElement {
  connectedCallback() {
    this.unlisten = onLangChange(() => this.render());
    this.render();
  }

  disconnectedCallback() {
    this.unlisten();
  }

  get isOpen() {
    return Boolean(this.dialog && this.dialog.open);
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
  }

  render() {
    const wasOpen = this.isOpen;
    const keys = (list) => list.flatMap((key, i) => [
      i ? h('span', { class: 'muted', text: ` ${t('key.or')} ` }) : null,
      h('kbd', { text: key.replace('MOD', modKey()) }),
    ]);
    this.dialog = h('dialog', { class: 'help-dialog', 'aria-labelledby': 'help-title' },
      h('div', { class: 'dialog-head' },
        h('h2', { id: 'help-title', text: t('help.title') }),
        h('form', { method: 'dialog' }, h('button', { class: 'ghost close-dialog', value: 'close', text: t('help.close') }))),
      h('dl', { class: 'shortcuts' },
        SHORTCUTS.map(([list, key]) => h('div', { class: 'shortcut' }, h('dt', {}, keys(list)), h('dd', { text: t(key) })))),
      h('p', { class: 'muted', text: t('help.note', { key: modKey() }) }));
    this.replaceChildren(this.dialog);
    if (wasOpen) this.dialog.showModal();
  }
}

customElements.define('sb-help', SbHelp);
