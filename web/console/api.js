// The JSON API client: CSRF header on writes, problem+json errors, and a signal on 401.
import { t } from './i18n.js';

let csrfToken = null;
/** Fires `unauthorized` whenever the server says the session is gone. */
export const session = new EventTarget();

export function setCsrf(token) {
  csrfToken = token || null;
}

/** An RFC 9457 problem from the server, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || (status ? 'http' : 'network');
    this.field = problem.field || null;
    this.problem = problem;
  }

  /** The text to show an agent: a translation for codes we know, else the server's detail. */
  get userMessage() {
    if (['network', 'bad_credentials', 'rate_limited'].includes(this.code)) return t(`problem.${this.code}`);
    return this.problem.detail || this.problem.title || t('problem.generic', { status: this.status });
  }
}

// `raw` sends a Blob (a file) as the body, with its own type, instead of JSON.
async function request(method, path, body, { raw = null, signal = null } = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (method !== 'GET') {
    headers['Content-Type'] = raw ? (raw.type || 'application/octet-stream') : 'application/json';
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  }
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (signal) init.signal = signal;
  if (raw) init.body = raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError(0, {});
  }
  const text = response.status === 204 ? '' : await response.text().catch(() => '');
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data && typeof data === 'object' ? data : {});
    const signingIn = method === 'POST' && path === '/session';
    if (response.status === 401 && !signingIn) session.dispatchEvent(new Event('unauthorized'));
    throw error;
  }
  return data;
}

/** Builds `?a=1&b=2` from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const api = {
  /** `signal` (an AbortSignal) cancels the request; it then rejects with an AbortError. */
  get: (path, { signal = null } = {}) => request('GET', path, undefined, { signal }),
  post: (path, body) => request('POST', path, body ?? {}),
  patch: (path, body) => request('PATCH', path, body),
  del: (path) => request('DELETE', path),
  /** Stores a file for a reply: `{sha256, size, filename, content_type}`. */
  upload: (file, signal) => request('POST', `/uploads${query({ filename: file.name })}`, undefined, { raw: file, signal }),
};

/** Where agents download a message's file. */
export const attachmentUrl = (id) => `/api/v1/attachments/${encodeURIComponent(id)}`;
