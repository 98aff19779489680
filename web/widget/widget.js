/*
 * Switchboard chat widget: one dependency-free classic script, served at /widget.js.
 *
 *   <script src="https://desk.example/widget.js" data-site="KEY" async></script>
 *
 * Optional: data-email, data-name, data-signature (a signed-in shop customer), data-lang.
 * Wire protocol: docs/widget.md. Everything lives in the open shadow root of <sb-chat>.
 */
(() => {
  'use strict';

  // Must be read synchronously: currentScript is only set while this script runs.
  const script = document.currentScript || document.querySelector('script[data-site][src*="widget.js"]');
  if (!script || window.__sbWidget) return;
  if (!window.customElements || !window.WebSocket || !HTMLElement.prototype.attachShadow) return;

  const attr = (name) => (script.getAttribute('data-' + name) || '').trim();
  const site = attr('site');
  if (!site) {
    console.warn('Switchboard widget: data-site is missing');
    return;
  }
  const origin = new URL(script.src, location.href).origin;
  const socketUrl = origin.replace(/^http/, 'ws') + '/ws/widget?site=' + encodeURIComponent(site);

  // A signed-in customer; only sent with a signature (without one the email proves nothing).
  let identity = null;
  if (attr('signature') && attr('email')) {
    identity = { email: attr('email'), signature: attr('signature') };
    if (attr('name')) identity.name = attr('name');
  }

  const MAX_TEXT = 4000;
  const MAX_FRAME = 16384;
  const TYPING_EVERY = 2000;
  const TYPING_SHOWN = 6000;

  // ---- Strings -------------------------------------------------------------------------

  const STRINGS = {
    en: {
      chat: 'Chat',
      launcher: 'Chat with us',
      unread: '{n} unread',
      close: 'Close chat',
      messages: 'Messages',
      placeholder: 'Write a message…',
      input: 'Your message',
      send: 'Send',
      sending: 'sending…',
      failed: 'Not sent: {d}',
      typing: '{n} is typing…',
      agent: 'Support',
      connecting: 'Connecting…',
      offline: 'Nobody is online right now. Leave your email and we will answer by email.',
      offlineKnown: 'Nobody is online right now. We will answer by email.',
      email: 'Your email',
      save: 'Save',
      saved: 'We will answer to {e}',
      badEmail: 'Please enter a valid email address.',
      tooLong: 'This message is too long.',
      refused: 'The connection was refused. Trying again…',
      error: 'Something went wrong: {d}',
      rate: 'Rate our help',
      star: '{n} of 5',
      rated: 'Thank you for your rating!',
      rateUsed: 'Thank you – your answer was recorded.',
      rateClosed: 'This survey has closed.',
      rateFailed: 'Your rating could not be sent. Please try again.',
    },
    de: {
      chat: 'Chat',
      launcher: 'Chatten Sie mit uns',
      unread: '{n} ungelesen',
      close: 'Chat schließen',
      messages: 'Nachrichten',
      placeholder: 'Nachricht schreiben…',
      input: 'Ihre Nachricht',
      send: 'Senden',
      sending: 'wird gesendet…',
      failed: 'Nicht gesendet: {d}',
      typing: '{n} schreibt…',
      agent: 'Support',
      connecting: 'Verbinde…',
      offline: 'Gerade ist niemand online. Hinterlassen Sie Ihre E-Mail-Adresse, dann antworten wir per E-Mail.',
      offlineKnown: 'Gerade ist niemand online. Wir antworten Ihnen per E-Mail.',
      email: 'Ihre E-Mail-Adresse',
      save: 'Speichern',
      saved: 'Wir antworten an {e}',
      badEmail: 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
      tooLong: 'Diese Nachricht ist zu lang.',
      refused: 'Die Verbindung wurde abgelehnt. Neuer Versuch…',
      error: 'Etwas ist schiefgegangen: {d}',
      rate: 'Bewerten Sie unsere Hilfe',
      star: '{n} von 5',
      rated: 'Vielen Dank für Ihre Bewertung!',
      rateUsed: 'Danke – Ihre Antwort ist gespeichert.',
      rateClosed: 'Diese Umfrage ist beendet.',
      rateFailed: 'Ihre Bewertung konnte nicht gesendet werden. Bitte versuchen Sie es erneut.',
    },
  };
  const lang = /^de\b/i.test(attr('lang') || navigator.language || '') ? 'de' : 'en';
  const T = STRINGS[lang];
  const fill = (text, key, value) => text.replace('{' + key + '}', value);

  // ---- Storage: localStorage under sb:SITE:name, falling back to memory -----------------

  const memory = {};
  let storage = null;
  try {
    storage = window.localStorage;
    storage.setItem('sb:probe', '1');
    storage.removeItem('sb:probe');
  } catch (e) {
    storage = null;
  }
  const storeKey = (name) => 'sb:' + site + ':' + name;
  const get = (name) => {
    let raw = memory[name];
    if (storage) {
      try {
        raw = storage.getItem(storeKey(name));
      } catch (e) { /* use memory */ }
    }
    try {
      return raw == null ? null : JSON.parse(raw);
    } catch (e) {
      return null;
    }
  };
  const set = (name, value) => {
    const raw = JSON.stringify(value);
    memory[name] = raw;
    if (!storage) return;
    try {
      storage.setItem(storeKey(name), raw);
    } catch (e) {
      storage = null; // full or blocked: memory from now on
    }
  };
  // Prime memory so a later switch to memory keeps what was stored.
  ['token', 'last', 'pending', 'open', 'seen'].forEach((name) => {
    const value = get(name);
    if (value != null) memory[name] = JSON.stringify(value);
  });

  // Pending messages are re-read on every change, so tabs do not overwrite each other.
  const pendingList = () => {
    const list = get('pending');
    return Array.isArray(list) ? list.filter((p) => p && typeof p.client_id === 'string' && typeof p.text === 'string') : [];
  };
  const pendingRemove = (clientId) => {
    const list = pendingList();
    const rest = list.filter((p) => p.client_id !== clientId);
    if (rest.length !== list.length) set('pending', rest);
  };

  const newClientId = () => {
    if (window.crypto && crypto.randomUUID) {
      try {
        return crypto.randomUUID();
      } catch (e) { /* not a secure context */ }
    }
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  };

  // ---- DOM -----------------------------------------------------------------------------

  const CSS = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.sb-launcher, .sb-panel {
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1d2330;
  -webkit-font-smoothing: antialiased;
}
button, input, textarea { font: inherit; color: inherit; margin: 0; }
button { cursor: pointer; }
:focus-visible { outline: 3px solid #0b1a3a; outline-offset: 2px; box-shadow: 0 0 0 2px #fff; }
.sb-launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 58px; height: 58px; padding: 0; border: 0; border-radius: 50%;
  display: grid; place-items: center;
  background: var(--sb-accent, #2456d6); color: #fff;
  box-shadow: 0 4px 14px rgba(0, 0, 0, .25);
  transition: transform .15s ease-out;
}
.sb-launcher:hover { transform: scale(1.06); }
.sb-launcher svg { width: 28px; height: 28px; fill: currentColor; }
.sb-badge {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border: 2px solid #fff; border-radius: 11px; background: #c62828; color: #fff;
  font-size: 12px; font-weight: 700; line-height: 18px; text-align: center;
}
.sb-panel {
  position: fixed; right: 20px; bottom: 92px; z-index: 2147483001;
  width: 370px; max-width: calc(100vw - 40px); height: 580px; max-height: calc(100vh - 112px);
  display: flex; flex-direction: column; overflow: hidden;
  background: #fff; border-radius: 14px; box-shadow: 0 12px 40px rgba(0, 0, 0, .28);
  animation: sb-rise .18s ease-out;
}
@keyframes sb-rise { from { opacity: 0; transform: translateY(12px); } }
.sb-head {
  display: flex; align-items: center; gap: 8px; padding: 12px 10px 12px 16px;
  background: var(--sb-accent, #2456d6); color: #fff;
}
.sb-titles { flex: 1; min-width: 0; }
.sb-title { font-weight: 600; font-size: 16px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.sb-status { font-size: 12px; opacity: .9; }
.sb-close {
  width: 38px; height: 38px; border: 0; border-radius: 8px; background: transparent; color: #fff;
  font-size: 26px; line-height: 1;
}
.sb-close:hover { background: rgba(255, 255, 255, .16); }
.sb-log {
  flex: 1; overflow-y: auto; overscroll-behavior: contain; padding: 16px;
  display: flex; flex-direction: column; gap: 10px; background: #f4f5f8;
}
.sb-msg, .sb-greeting { max-width: 85%; display: flex; flex-direction: column; }
.sb-in { align-self: flex-end; align-items: flex-end; }
.sb-out, .sb-greeting { align-self: flex-start; align-items: flex-start; }
.sb-text { padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
.sb-in .sb-text { background: var(--sb-accent, #2456d6); color: #fff; border-bottom-right-radius: 4px; }
.sb-out .sb-text, .sb-greeting .sb-text {
  background: #fff; border: 1px solid #dfe3ea; border-bottom-left-radius: 4px;
}
.sb-author { margin: 0 4px 2px; font-size: 12px; font-weight: 600; color: #4b5363; }
.sb-meta { margin: 2px 4px 0; font-size: 11px; color: #5f6675; }
.sb-pending .sb-text { opacity: .7; }
.sb-failed .sb-text { background: #fdeceb; color: #8a1c14; border: 1px solid #f1b8b3; }
.sb-failed .sb-meta { color: #a1231a; }
.sb-typing { padding: 4px 16px 6px; background: #f4f5f8; font-size: 12px; font-style: italic; color: #4b5363; }
.sb-offline { padding: 10px 16px; border-top: 1px solid #efdfae; background: #fff8e1; font-size: 13px; }
.sb-offline p { margin: 0; }
.sb-email-form { display: flex; gap: 6px; margin-top: 8px; }
.sb-email {
  flex: 1; min-width: 0; padding: 7px 9px; border: 1px solid #aeb5c2; border-radius: 8px; background: #fff;
}
.sb-email-saved { margin-top: 6px !important; font-weight: 600; }
.sb-error { padding: 6px 16px; background: #fdeceb; color: #8a1c14; font-size: 12px; }
.sb-compose { display: flex; align-items: flex-end; gap: 8px; padding: 10px; border-top: 1px solid #dfe3ea; }
.sb-input {
  flex: 1; min-width: 0; min-height: 42px; max-height: 140px; resize: none; field-sizing: content;
  padding: 10px 12px; border: 1px solid #aeb5c2; border-radius: 10px; background: #fff; line-height: 1.4;
}
.sb-send, .sb-email-save {
  border: 0; border-radius: 8px; padding: 0 14px; font-weight: 600;
  background: var(--sb-accent, #2456d6); color: #fff;
}
.sb-send { height: 42px; }
.sb-rating { display: flex; gap: 4px; margin: 6px 4px 0; }
.sb-star {
  min-width: 36px; height: 36px; border: 1px solid #aeb5c2; border-radius: 8px; background: #fff;
  font-weight: 600;
}
.sb-star:hover, .sb-star:focus-visible { background: var(--sb-accent, #2456d6); color: #fff; }
.sb-star:disabled { opacity: .6; cursor: default; }
.sb-rated { margin: 6px 4px 0; font-size: 13px; color: #4b5363; }
.sb-send:hover, .sb-email-save:hover { filter: brightness(1.1); }
@media (max-width: 480px) {
  .sb-panel { inset: 0; width: auto; max-width: none; height: auto; max-height: none; border-radius: 0; }
}
@media (prefers-reduced-motion: reduce) {
  * { animation: none !important; transition: none !important; }
}
`;

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  };
  const attrs = (node, map) => {
    for (const k in map) node.setAttribute(k, map[k]);
    return node;
  };

  if (!customElements.get('sb-chat')) customElements.define('sb-chat', class extends HTMLElement {});
  const host = document.createElement('sb-chat');
  const root = host.attachShadow({ mode: 'open' });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    root.appendChild(el('style', null, CSS));
  }

  // Launcher with a chat-bubble icon and the unread badge.
  const launcher = attrs(el('button', 'sb-launcher'), { type: 'button', 'aria-expanded': 'false' });
  const SVG = 'http://www.w3.org/2000/svg';
  const icon = attrs(document.createElementNS(SVG, 'svg'), { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' });
  icon.appendChild(attrs(document.createElementNS(SVG, 'path'), {
    d: 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2h-9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z',
  }));
  const badge = attrs(el('span', 'sb-badge'), { 'aria-hidden': 'true' });
  badge.hidden = true;
  launcher.append(icon, badge);

  // The panel.
  const panel = attrs(el('div', 'sb-panel'), { role: 'dialog', 'aria-label': T.chat });
  panel.hidden = true;
  const head = el('div', 'sb-head');
  const titles = el('div', 'sb-titles');
  const title = el('div', 'sb-title', T.chat);
  const status = el('div', 'sb-status', T.connecting);
  titles.append(title, status);
  const closeButton = attrs(el('button', 'sb-close', '×'), { type: 'button', 'aria-label': T.close });
  head.append(titles, closeButton);

  const log = attrs(el('div', 'sb-log'), { role: 'log', 'aria-live': 'polite', 'aria-label': T.messages, tabindex: '0' });
  const greeting = el('div', 'sb-greeting');
  const greetingText = el('div', 'sb-text');
  greeting.appendChild(greetingText);
  greeting.hidden = true;
  log.appendChild(greeting);

  const typingLine = attrs(el('div', 'sb-typing'), { role: 'status' });
  typingLine.hidden = true;

  const offline = el('div', 'sb-offline');
  offline.hidden = true;
  const offlineText = el('p');
  const emailForm = attrs(el('form', 'sb-email-form'), { novalidate: '' });
  const emailInput = attrs(el('input', 'sb-email'), {
    type: 'email', autocomplete: 'email', 'aria-label': T.email, placeholder: T.email, maxlength: '254',
  });
  if (attr('email')) emailInput.value = attr('email');
  const emailSave = attrs(el('button', 'sb-email-save', T.save), { type: 'submit' });
  emailForm.append(emailInput, emailSave);
  const emailSaved = el('p', 'sb-email-saved');
  emailSaved.hidden = true;
  offline.append(offlineText, emailForm, emailSaved);

  const errorLine = attrs(el('div', 'sb-error'), { role: 'status' });
  errorLine.hidden = true;

  const compose = el('form', 'sb-compose');
  const input = attrs(el('textarea', 'sb-input'), {
    rows: '1', maxlength: String(MAX_TEXT), placeholder: T.placeholder, 'aria-label': T.input,
  });
  const sendButton = attrs(el('button', 'sb-send', T.send), { type: 'submit' });
  compose.append(input, sendButton);

  panel.append(head, log, typingLine, offline, errorLine, compose);
  root.append(launcher, panel);

  const mount = () => document.body.appendChild(host);
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  // ---- Conversation state --------------------------------------------------------------

  const byId = new Map(); // message id -> bubble
  const byClientId = new Map(); // client_id -> own bubble
  const agentIds = new Set(); // ids of agent messages, for the badge
  let last = 0; // highest message id rendered in this page
  let hasHistory = false; // a welcome was rendered in this page: reconnect with `after`
  let isOpen = false;
  let agentsOnline = true;
  let known = false; // a welcome arrived at least once
  let verified = null;
  let savedEmail = null;
  let wantEmail = null; // typed while disconnected: sent after the next welcome
  let typingTimer = 0;
  let errorTimer = 0;
  let lastTypingSent = 0;

  const formatTime = (at) => {
    const date = typeof at === 'number' ? new Date(at < 1e12 ? at * 1000 : at) : new Date(at);
    if (isNaN(date)) return null;
    try {
      return date.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
    } catch (e) {
      return null;
    }
  };

  const setMeta = (node, text) => {
    node.querySelector('.sb-meta').textContent = text || '';
  };

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const scrollDown = () => {
    log.scrollTop = log.scrollHeight;
  };

  const bubble = (direction, text, author) => {
    const node = el('div', 'sb-msg ' + (direction === 'out' ? 'sb-out' : 'sb-in'));
    if (direction === 'out') node.appendChild(el('div', 'sb-author', author || T.agent));
    node.append(el('div', 'sb-text', text), el('div', 'sb-meta'));
    return node;
  };

  // A survey message: five buttons that post the rating to the survey's link (a simple
  // form POST; the desk allows this site's origin and answers in JSON).
  const ratingFor = (node, url) => {
    const group = attrs(el('div', 'sb-rating'), { role: 'group', 'aria-label': T.rate });
    const note = attrs(el('p', 'sb-rated'), { role: 'status' });
    note.hidden = true;
    const done = (text) => {
      group.remove();
      note.textContent = text;
      note.hidden = false;
    };
    for (let n = 1; n <= 5; n++) {
      const star = attrs(el('button', 'sb-star', String(n)), {
        type: 'button', 'aria-label': fill(T.star, 'n', String(n)),
      });
      star.addEventListener('click', () => {
        for (const b of group.querySelectorAll('button')) b.disabled = true;
        fetch(url, {
          method: 'POST',
          headers: { Accept: 'application/json' },
          body: new URLSearchParams({ rating: String(n) }),
          credentials: 'omit',
        }).then((res) => {
          if (res.ok) done(T.rated);
          else if (res.status === 410) {
            return res.json().then((b) => done(b && b.error === 'expired' ? T.rateClosed : T.rateUsed));
          } else throw new Error(String(res.status));
        }).catch(() => {
          for (const b of group.querySelectorAll('button')) b.disabled = false;
          note.textContent = T.rateFailed;
          note.hidden = false;
        });
      });
      group.appendChild(star);
    }
    node.append(group, note);
  };

  // Stored messages in id order; pending ones stay at the end in the order sent.
  const place = (node, id) => {
    for (const other of log.querySelectorAll('.sb-msg')) {
      if (other === node) continue;
      if (other.classList.contains('sb-pending') || (other.dataset.id && Number(other.dataset.id) > id)) {
        log.insertBefore(node, other);
        return;
      }
    }
    log.appendChild(node);
  };

  // Adds or updates a stored message; never renders one id twice.
  const addMessage = (m, clientId) => {
    if (!m || m.id == null || isNaN(Number(m.id))) return;
    const id = Number(m.id);
    clientId = m.client_id || clientId;
    if (clientId) pendingRemove(clientId); // stored: never resend
    let node = byId.get(id) || (clientId && byClientId.get(clientId));
    const follow = nearBottom();
    if (!node) {
      node = bubble(m.direction, String(m.text == null ? '' : m.text), m.author);
      if (m.direction === 'out' && typeof m.survey === 'string' && /^https?:\/\//.test(m.survey)) {
        ratingFor(node, m.survey);
      }
    }
    node.classList.remove('sb-pending', 'sb-failed');
    node.dataset.id = String(id);
    if (clientId) {
      node.dataset.clientId = clientId;
      byClientId.set(clientId, node);
    }
    setMeta(node, formatTime(m.at));
    byId.set(id, node);
    place(node, id);
    if (m.direction === 'out') {
      agentIds.add(id);
      if (!typingLine.hidden && (!m.author || typingLine.dataset.agent === m.author)) hideTyping();
    }
    if (id > last) {
      last = id;
      if (id > (Number(get('last')) || 0)) set('last', id);
    }
    if (follow || clientId) scrollDown();
    updateBadge();
  };

  const addPending = (p) => {
    if (byClientId.has(p.client_id)) return;
    const node = bubble('in', p.text);
    node.classList.add('sb-pending');
    node.dataset.clientId = p.client_id;
    setMeta(node, T.sending);
    byClientId.set(p.client_id, node);
    log.appendChild(node);
    scrollDown();
  };

  const failPending = (clientId, detail) => {
    const p = pendingList().find((x) => x.client_id === clientId);
    pendingRemove(clientId);
    let node = byClientId.get(clientId);
    if (!node && p) {
      addPending(p);
      node = byClientId.get(clientId);
    }
    if (!node || node.dataset.id) return;
    node.classList.remove('sb-pending');
    node.classList.add('sb-failed');
    setMeta(node, fill(T.failed, 'd', detail || ''));
  };

  // The earlier conversation is not this visitor's any more; pending messages stay.
  const clearHistory = () => {
    for (const node of log.querySelectorAll('.sb-msg:not(.sb-pending)')) {
      node.remove();
      if (node.dataset.clientId) byClientId.delete(node.dataset.clientId);
    }
    byId.clear();
    agentIds.clear();
    last = 0;
    set('last', 0);
    set('seen', 0);
  };

  // Unread: agent messages newer than the highest one seen while the panel was open.
  const updateBadge = () => {
    let seen = Number(get('seen')) || 0;
    if (isOpen) {
      const top = Math.max(0, ...agentIds);
      if (top > seen) set('seen', (seen = top));
    }
    let unread = 0;
    for (const id of agentIds) if (id > seen) unread++;
    badge.textContent = String(unread);
    badge.hidden = unread === 0;
    launcher.setAttribute('aria-label', unread ? T.launcher + ' (' + fill(T.unread, 'n', unread) + ')' : T.launcher);
  };

  const hideTyping = () => {
    clearTimeout(typingTimer);
    typingLine.hidden = true;
  };
  const showTyping = (name) => {
    typingLine.textContent = fill(T.typing, 'n', name || T.agent);
    typingLine.dataset.agent = name || '';
    typingLine.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOWN);
  };

  const showError = (text) => {
    errorLine.textContent = text;
    errorLine.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => {
      errorLine.hidden = true;
    }, 8000);
  };

  // The offline notice: ask for an email unless we already have one (or a verified one).
  const renderOffline = () => {
    offline.hidden = !known || agentsOnline;
    const email = (verified && verified.email) || savedEmail;
    offlineText.textContent = email ? T.offlineKnown : T.offline;
    emailForm.hidden = Boolean(email || verified);
    emailSaved.hidden = !email;
    emailSaved.textContent = email ? fill(T.saved, 'e', email) : '';
  };

  const setOpen = (open, focus) => {
    isOpen = open;
    set('open', open);
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      scrollDown();
      updateBadge();
      if (focus) input.focus();
    } else if (focus) {
      launcher.focus();
    }
  };

  // ---- Connection ----------------------------------------------------------------------

  let ws = null;
  let ready = false; // socket open and welcomed
  let attempt = 0;
  let timer = 0;
  let holdUntil = 0; // no early reconnect before this (after 4400)
  let warnedIdentity = false;

  const sendFrame = (frame) => {
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  };

  const setReady = (value) => {
    ready = value;
    status.textContent = value ? '' : T.connecting;
    status.hidden = value;
  };

  const connect = () => {
    clearTimeout(timer);
    timer = 0;
    if (ws) return;
    let sock;
    try {
      sock = new WebSocket(socketUrl);
    } catch (e) {
      lost(1006);
      return;
    }
    ws = sock;
    sock.onopen = () => {
      const hello = { type: 'hello' };
      const token = get('token');
      if (typeof token === 'string' && token) hello.token = token;
      if (identity) hello.identity = identity;
      if (hasHistory && last > 0) hello.after = last;
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (event) => {
      if (ws !== sock) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === 'object') receive(frame);
    };
    sock.onclose = (event) => {
      if (ws === sock) lost(event.code);
    };
  };

  const backoff = () => {
    const base = Math.min(15000, 500 * 2 ** attempt);
    attempt++;
    return base + Math.random() * base * 0.3;
  };

  const lost = (code) => {
    ws = null;
    setReady(false);
    let delay;
    if (code === 4403) {
      if (!warnedIdentity) console.warn('Switchboard widget: the identity signature was refused; chatting anonymously');
      warnedIdentity = true;
      identity = null;
      delay = 0;
    } else if (code === 4400) {
      delay = 30000;
    } else if (code === 4000) {
      delay = 0;
    } else {
      if (code === 1008 || code === 1009) showError(T.refused);
      delay = backoff();
    }
    holdUntil = Date.now() + delay;
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
  };

  // Online again or visible again: do not wait for the backoff.
  const wake = () => {
    if (!ws && Date.now() >= holdUntil) connect();
  };
  window.addEventListener('online', wake);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') wake();
  });

  const welcome = (f) => {
    attempt = 0;
    known = true;
    if (typeof f.token === 'string' && f.token) set('token', f.token);
    if (f.reset) clearHistory();
    const siteInfo = f.site || {};
    if (siteInfo.name) {
      title.textContent = siteInfo.name;
      panel.setAttribute('aria-label', siteInfo.name);
    }
    greetingText.textContent = siteInfo.greeting || '';
    greeting.hidden = !siteInfo.greeting;
    verified = f.verified && typeof f.verified === 'object' ? f.verified : null;
    savedEmail = typeof f.email === 'string' && f.email ? f.email : null;
    agentsOnline = Boolean(f.agents_online);
    if (Array.isArray(f.messages)) f.messages.forEach((m) => addMessage(m));
    hasHistory = true;
    setReady(true);
    // Resend everything not yet acknowledged, in order (the desk ignores repeats).
    for (const p of pendingList()) {
      addPending(p);
      sendFrame({ type: 'send', client_id: p.client_id, text: p.text });
    }
    if (wantEmail && !verified) sendFrame({ type: 'email', email: wantEmail });
    wantEmail = null;
    renderOffline();
    updateBadge();
  };

  const receive = (f) => {
    switch (f.type) {
      case 'welcome':
        welcome(f);
        break;
      case 'ack':
        if (f.client_id) pendingRemove(f.client_id);
        addMessage(f.message, f.client_id);
        break;
      case 'message':
        addMessage(f.message);
        break;
      case 'typing':
        showTyping(f.agent);
        break;
      case 'agents':
        agentsOnline = Boolean(f.online);
        renderOffline();
        break;
      case 'email_saved':
        savedEmail = f.email || savedEmail;
        renderOffline();
        break;
      case 'error':
        if (f.client_id) failPending(f.client_id, f.detail || f.code);
        else showError(fill(T.error, 'd', f.detail || f.code || '?'));
        break;
    }
  };

  // ---- User actions --------------------------------------------------------------------

  const submit = () => {
    const text = input.value.trim();
    if (!text) return;
    const p = { client_id: newClientId(), text: text.slice(0, MAX_TEXT), at: Date.now() };
    const frame = { type: 'send', client_id: p.client_id, text: p.text };
    if (new TextEncoder().encode(JSON.stringify(frame)).length > MAX_FRAME) {
      showError(T.tooLong);
      return;
    }
    set('pending', pendingList().concat([p])); // persist first
    addPending(p);
    input.value = '';
    if (ready) sendFrame(frame);
  };

  launcher.addEventListener('click', () => setOpen(!isOpen, true));
  closeButton.addEventListener('click', () => setOpen(false, true));
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && isOpen) {
      event.stopPropagation();
      setOpen(false, true);
    }
  });

  compose.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    const now = Date.now();
    if (ready && input.value.trim() && now - lastTypingSent >= TYPING_EVERY) {
      if (sendFrame({ type: 'typing' })) lastTypingSent = now;
    }
  });

  emailForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const email = emailInput.value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
      showError(T.badEmail);
      emailInput.focus();
      return;
    }
    if (!sendFrame({ type: 'email', email })) wantEmail = email;
  });

  // ---- Start ---------------------------------------------------------------------------

  pendingList().forEach(addPending);
  updateBadge();
  if (get('open') === true) setOpen(true, false); // restore without stealing focus from the page
  connect();

  // Test hook, like the console's window.__sbLive.
  window.__sbWidget = {
    /** Closes the socket abruptly, as a network cut would (keeps the backoff). */
    drop() {
      const sock = ws;
      if (!sock) return;
      ws = null;
      sock.onclose = null;
      sock.onmessage = null;
      try {
        sock.close();
      } catch (e) { /* already closed */ }
      lost(1006);
    },
    get state() {
      return { connected: ready, pending: pendingList().length, last };
    },
  };
})();
