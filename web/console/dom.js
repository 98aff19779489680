// Builds DOM from data without ever parsing it as HTML, and routes errors to the app.

const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'open', 'srcdoc', 'htmlFor']);

/** Creates an element: `h('button', {class: 'x', onclick: fn, text: 'Go'}, child, [children])`. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'style' || key === 'innerHTML' || key === 'outerHTML') throw new Error(`h(): ${key} is not allowed`);
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Hands an error to the page's shell (<sb-app>, <sb-lead>), which shows it in the alert area. */
export function report(from, error) {
  if (error && error.status === 401) return; // the sign-in view takes over
  from.dispatchEvent(new CustomEvent('sb-error', { bubbles: true, detail: error }));
}

/** Asks the app to say something in the polite live region. */
export function announce(from, text) {
  from.dispatchEvent(new CustomEvent('sb-announce', { bubbles: true, detail: text }));
}

/** Runs a promise-returning action and reports its failure instead of leaking it. */
export function guard(from, promise) {
  return Promise.resolve(promise).catch((error) => report(from, error));
}

/** True when a key press happens inside something the user types into. */
export function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['button', 'submit', 'reset', 'checkbox', 'radio'].includes(target.type);
  }
  return false;
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/** Puts `nodes` into `parent` in order, moving only what is out of place (keeps focus). */
export function reconcile(parent, nodes) {
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(node, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

/** Replaces a container's content and puts focus back on the same control, if it had it. */
export function rerender(container, build) {
  const active = document.activeElement;
  let key = null;
  if (active && active !== container && container.contains(active)) {
    key = active.dataset.focusKey ? `[data-focus-key="${CSS.escape(active.dataset.focusKey)}"]`
      : active.name ? `[name="${CSS.escape(active.name)}"]` : null;
  }
  container.replaceChildren(...[build()].flat(Infinity).filter(Boolean));
  if (key) {
    const again = container.querySelector(key);
    if (again) again.focus();
  }
}

/** Replaces an element's children, skipping empty values and flattening lists. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Adds `error` to `list`, the page's error lines: the API's message for agents (other
 * errors go to the browser's log too), the same text only once, at most three lines,
 * each dismissible and gone after `ms`.
 */
export function pushError(list, error, dismissLabel, ms) {
  const text = error.userMessage || error.message || String(error);
  if (!error.userMessage) console.warn(error);
  const last = list.lastElementChild;
  if (last && last.dataset.text === text) last.remove();
  const item = h('div', { class: 'error-item', dataset: { text } },
    h('span', { class: 'error-text', text }),
    h('button', { type: 'button', class: 'ghost small', text: dismissLabel, onclick: () => item.remove() }));
  list.append(item);
  while (list.children.length > 3) list.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
}
