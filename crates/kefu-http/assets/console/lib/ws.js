// The live socket (`/ws`, docs/protocol.md) for the console.
//
// The socket rides on the session cookie (same origin: the server accepts
// the cookie on an upgrade whose Origin is itself). An expired cookie makes
// the upgrade fail with 401, which the browser reports as a plain failed
// connection, so before retrying after a failure we check the session with
// an ordinary request: that refreshes the cookie (lib/api.js) when needed,
// and a session that is over sends the console back to the login page.
// The server closes a socket whose session ended (4001: signed out
// elsewhere, revoked) or whose token expired (4002); both go through the
// same check, which refreshes the cookie or sends the console to the login
// page. Socket events are a doorbell: after a reconnect we emit
// `reconnected` and pages re-fetch what they show.
//
//   const socket = createSocket();
//   const off = socket.on('message.created', (frame) => …);  // unsubscribe: off()
//   socket.send({type: 'typing', conversation_id, on: true});
//
// Pseudo-events besides the server's frame types: `open` (hello received),
// `reconnected` (hello after an earlier connection), `status` (with
// 'connecting' | 'open' | 'closed'), `*` (every frame).

import { checkSession } from './api.js';

const MIN_DELAY = 500;
const MAX_DELAY = 30_000;

export function createSocket() {
  const handlers = new Map();
  let ws = null;
  let stopped = false;
  let everOpened = false;
  let attempt = 0;
  let timer = null;
  let pinger = null;
  let status = 'closed';

  function emit(type, payload) {
    for (const fn of handlers.get(type) || []) {
      try {
        fn(payload);
      } catch (e) {
        console.error('socket handler', type, e);
      }
    }
  }

  function setStatus(s) {
    status = s;
    emit('status', s);
  }

  async function connect() {
    if (stopped) return;
    setStatus('connecting');
    // The last socket closed before saying hello: perhaps its cookie had
    // expired. Refresh it (or learn that we are offline) before trying again.
    if (attempt > 0 && !(await checkSession())) {
      if (!stopped) retry();
      return;
    }
    if (stopped || ws) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${proto}//${location.host}/ws`);
    ws = sock;
    let helloSeen = false;
    sock.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (frame.type === 'hello') {
        helloSeen = true;
        attempt = 0;
        startPing(frame.idle_timeout_secs || 75);
        setStatus('open');
        emit('open', frame);
        if (everOpened) emit('reconnected', frame);
        everOpened = true;
      }
      emit(frame.type, frame);
      emit('*', frame);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      stopPing();
      setStatus('closed');
      if (!helloSeen) attempt++;
      // Session over or token expired: check (refresh, or go to login) first.
      if (ev.code === 4001 || ev.code === 4002) attempt = Math.max(attempt, 1);
      retry();
    };
  }

  function retry() {
    if (stopped) return;
    // Exponential back-off with jitter; a clean drop retries quickly.
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** Math.min(attempt, 8));
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
  }

  function startPing(idleSecs) {
    stopPing();
    pinger = setInterval(() => send({ type: 'ping' }), Math.max(5, idleSecs / 3) * 1000);
  }

  function stopPing() {
    clearInterval(pinger);
    pinger = null;
  }

  // Come back at once when the network or the tab does.
  const wake = () => {
    if (!ws && !stopped) {
      attempt = 0;
      clearTimeout(timer);
      connect();
    }
  };
  const onVisible = () => document.visibilityState === 'visible' && wake();
  window.addEventListener('online', wake);
  document.addEventListener('visibilitychange', onVisible);

  /** Sends a frame; false when the socket is not open. */
  function send(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  return {
    start() {
      stopped = false;
      if (!ws) connect();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      stopPing();
      window.removeEventListener('online', wake);
      document.removeEventListener('visibilitychange', onVisible);
      if (ws) {
        const s = ws;
        ws = null;
        s.close();
      }
      setStatus('closed');
    },
    /** Subscribes to a frame type; returns the unsubscribe function. */
    on(type, fn) {
      if (!handlers.has(type)) handlers.set(type, new Set());
      handlers.get(type).add(fn);
      return () => handlers.get(type).delete(fn);
    },
    send,
    get status() {
      return status;
    },
  };
}
