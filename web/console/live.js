// The console's live connection: topics, viewing/typing notices, reconnect with backoff, re-sync.

const MIN_DELAY = 500;
const MAX_DELAY = 10000;
const TYPING_EVERY = 2000;
const ACK_TIMEOUT = 2000;
/** Close codes from the server: fell behind (re-sync), session ended. */
const CLOSE_RESYNC = 4000;
const CLOSE_SESSION_ENDED = 4401;

/**
 * Events: `message` (detail: a server message), `state` (detail: the new state), `synced`
 * (detail: {reconnect}) once the server has taken our subscriptions after a (re)connect.
 * States: idle, connecting, open, reconnecting, closed.
 */
export class Live extends EventTarget {
  #ws = null;
  #topics = new Set();
  #viewing = null;
  #attempt = 0;
  #timer = null;
  #ackTimer = null;
  #awaitingAck = false;
  #connectedOnce = false;
  #stopped = true;
  #state = 'idle';
  #lastTyping = 0;
  #lastCode = 0;

  /**
   * onResync: called after every reconnect (not the first connect), once subscriptions are in.
   * checkSession: async () => boolean, asked before reconnecting when the session may be over.
   */
  constructor({ onResync = () => {}, checkSession = async () => true } = {}) {
    super();
    this.onResync = onResync;
    this.checkSession = checkSession;
    this.agentId = null;
    const live = this;
    window.__sbLive = {
      drop: () => live.drop(),
      get state() { return live.state; },
    };
    window.addEventListener('online', () => {
      if (this.#state === 'reconnecting' && this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = null;
        this.#connect();
      }
    });
  }

  get state() {
    return this.#state;
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connectedOnce = false;
    this.#attempt = 0;
    this.#connect();
  }

  /** Ends the connection for good (logout). */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#ackTimer);
    this.#timer = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, 'bye');
    this.#topics.clear();
    this.#viewing = null;
    this.#setState('closed');
  }

  /** Closes the socket abruptly, as a network failure would (used by tests). */
  drop() {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close(3001, 'dropped');
    this.#closed(1006);
  }

  subscribe(topics) {
    const fresh = topics.filter((topic) => !this.#topics.has(topic));
    fresh.forEach((topic) => this.#topics.add(topic));
    if (fresh.length) this.#send({ type: 'subscribe', topics: fresh });
  }

  unsubscribe(topics) {
    const gone = topics.filter((topic) => this.#topics.delete(topic));
    if (gone.length) this.#send({ type: 'unsubscribe', topics: gone });
  }

  /** Says which ticket this agent has open (null: none) and follows its events. */
  view(ticketId) {
    if (this.#viewing === ticketId) return;
    if (this.#viewing) {
      this.#send({ type: 'left', ticket_id: this.#viewing });
      this.unsubscribe([`ticket:${this.#viewing}`]);
    }
    this.#viewing = ticketId || null;
    this.#lastTyping = 0;
    if (this.#viewing) {
      this.subscribe([`ticket:${this.#viewing}`]);
      this.#send({ type: 'viewing', ticket_id: this.#viewing });
    }
  }

  /** Call on every keystroke in the composer; sends at most one notice per 2 s. */
  typing() {
    const now = Date.now();
    if (!this.#viewing || now - this.#lastTyping < TYPING_EVERY) return;
    if (this.#send({ type: 'typing', ticket_id: this.#viewing })) this.#lastTyping = now;
  }

  #send(message) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false; // re-sent after reconnecting
    ws.send(JSON.stringify(message));
    return true;
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  #connect() {
    if (this.#stopped) return;
    this.#timer = null;
    this.#setState(this.#connectedOnce || this.#attempt > 0 ? 'reconnecting' : 'connecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws/agent`);
    } catch {
      this.#closed(1006);
      return;
    }
    this.#ws = ws;
    ws.onopen = () => this.#opened(ws);
    ws.onmessage = (event) => this.#received(event);
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#closed(event.code);
    };
  }

  #opened(ws) {
    if (this.#ws !== ws) return;
    if (this.#topics.size) ws.send(JSON.stringify({ type: 'subscribe', topics: [...this.#topics] }));
    if (this.#viewing) ws.send(JSON.stringify({ type: 'viewing', ticket_id: this.#viewing }));
    // The server answers a presence subscription at once: that answer tells us our topics
    // are in, so a re-read of the API from now on cannot miss an event.
    this.#awaitingAck = true;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = setTimeout(() => this.#acked(), this.#topics.has('presence') ? ACK_TIMEOUT : 0);
  }

  #acked() {
    if (!this.#awaitingAck) return;
    this.#awaitingAck = false;
    clearTimeout(this.#ackTimer);
    const reconnect = this.#connectedOnce;
    this.#connectedOnce = true;
    this.#attempt = 0;
    this.#setState('open');
    this.dispatchEvent(new CustomEvent('synced', { detail: { reconnect } }));
    if (reconnect) {
      Promise.resolve()
        .then(() => this.onResync())
        .catch((error) => console.error('re-sync failed', error));
    }
  }

  #received(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || typeof message !== 'object') return;
    if (message.type === 'hello') this.agentId = message.agent_id;
    if (message.type === 'presence' && this.#awaitingAck) this.#acked();
    this.dispatchEvent(new CustomEvent('message', { detail: message }));
    if (message.type === 'resync') {
      // We fell behind: reconnect at once and re-read, whether or not the server closes first.
      this.#lastCode = CLOSE_RESYNC;
      const ws = this.#ws;
      if (ws) {
        this.#ws = null;
        ws.onclose = null;
        ws.onmessage = null;
        ws.close(1000, 're-sync');
        this.#closed(CLOSE_RESYNC);
      }
    }
  }

  #closed(code) {
    clearTimeout(this.#ackTimer);
    this.#awaitingAck = false;
    if (this.#stopped) return;
    const resync = code === CLOSE_RESYNC || this.#lastCode === CLOSE_RESYNC;
    this.#lastCode = 0;
    const exponent = resync ? 0 : this.#attempt;
    const delay = Math.min(MAX_DELAY, MIN_DELAY * 2 ** exponent);
    const jittered = delay / 2 + Math.random() * (delay / 2);
    this.#attempt += 1;
    const askSession = code === CLOSE_SESSION_ENDED || this.#attempt % 3 === 0;
    this.#setState('reconnecting');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(async () => {
      if (askSession) {
        let alive = true;
        try { alive = await this.checkSession(); } catch { alive = true; }
        if (!alive) {
          this.stop();
          return;
        }
      }
      this.#connect();
    }, jittered);
  }
}
