// WebSocket client of /ws/conferences/<code>/ (docs/protocol.md) and the live state store.
// Reconnects by itself with a bounded, jittered back-off; never after 4409 (replaced) or a
// refusal (4401/4403/4404). Requests carry ids; their replies resolve promises.

import { _ } from './i18n.js';

const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404, 4409, 4423]);

// Mirror of conferences.live.reducer.LiveView (docs/protocol.md §3): the snapshot kept current
// by events. Each event carries `version`; the view remembers the version each piece of state
// was last set at (the snapshot's version for all of them) and drops an older event, so events
// delivered out of order by two servers never put back a stale value.
const TRANSIENT = new Set(['speaking', 'media.restart', 'slots', 'link', 'publish_layers', 'quality']);
const KNOWN = new Set(['conference', 'agenda', 'floor', 'broadcast', 'muted', 'hands', 'recording', 'observers', 'media', 'presence',
  'attendance', 'roll_call_started', 'roll_call_answer', 'roll_call_ended', 'absent.called',
  'presenter', 'content', 'chat_enabled']);
// Chat messages are records without a version: appended by id, the last CHAT_KEEP kept
// (conferences.live.reducer.CHAT_KEEP), which is what a fresh snapshot holds.
const CHAT_KEEP = 100;

function pieceOf(event) {
  switch (event.type) {
    case 'floor': case 'broadcast': case 'muted': case 'hands': case 'recording': case 'observers': case 'conference': return event.type;
    case 'presenter': case 'content': return event.type;
    case 'agenda': return 'current_item';
    case 'chat_enabled': return 'chat_enabled';
    case 'media': case 'presence': case 'attendance': return `${event.type}:${event.site}`;
    default: return null;
  }
}

export class LiveView {
  constructor(snapshot) {
    this.state = structuredClone(snapshot);
    this.base = Number(snapshot.version || 0);
    this.versions = {};
  }

  seen(key) { return key in this.versions ? this.versions[key] : this.base; }

  // Apply one event; false when it was dropped (older than what it sets, or unknown).
  apply(event) {
    if (TRANSIENT.has(event.type)) {
      if (event.type === 'speaking') this.state.speaking = event.site || null;
      return false;
    }
    if (event.type === 'chat') return this._chat(event.message);
    if (!KNOWN.has(event.type) || typeof event.version !== 'number') return false;
    const applied = event.type.startsWith('roll_call') ? this._rollcall(event) : this._set(event);
    if (applied) this.state.version = Math.max(Number(this.state.version || 0), event.version);
    return applied;
  }

  _set(event) {
    const state = this.state;
    const key = pieceOf(event);
    if (key === null) return true; // informational (absent.called): only the version counts
    if (event.version <= this.seen(key)) return false;
    const site = state.sites[event.site || ''];
    switch (event.type) {
      case 'conference': state.conference = event.conference; break;
      case 'agenda': state.current_item = event.current_item; break;
      case 'floor': case 'broadcast': case 'muted': case 'hands': case 'recording': case 'observers': state[event.type] = event[event.type]; break;
      case 'content': state.content = event.content; break;
      case 'presenter': state.presenter = event.presenter; state.floor_may_present = event.floor_may_present; break;
      case 'media': if (site) { site.video = !!event.video; site.audio = !!event.audio; } break;
      case 'presence': if (site) site.connected = 'joined_at' in event; break;
      case 'attendance': if (site) { site.status = event.status; site.headcount = event.headcount; } break;
      case 'chat_enabled': state.chat.enabled = !!event.chat_enabled; break;
      default: break;
    }
    this.versions[key] = event.version;
    return true;
  }

  _chat(message) {
    const chat = this.state.chat;
    if (!chat || !message || typeof message.id !== 'number') return false;
    const messages = chat.messages;
    if (messages.some((m) => m.id === message.id)) return false;
    if (messages.length >= CHAT_KEEP && message.id < messages[0].id) return false;
    messages.push(structuredClone(message));
    messages.sort((a, b) => a.id - b.id);
    messages.splice(0, Math.max(0, messages.length - CHAT_KEEP));
    return true;
  }

  _rollcall(event) {
    const current = this.state.rollcall;
    const v = event.version;
    if (event.type === 'roll_call_answer') {
      const answerKey = `answer:${event.site}`;
      if (current && current.id === event.roll_call) {
        if (v <= this.seen(answerKey)) return false;
        current.answers[event.site] = event.headcount;
      } else if (v > this.seen('rollcall')) {
        // the answer overtook the start of its roll call: open it from the answer
        this.state.rollcall = { id: event.roll_call, started_at: event.started_at, answers: { [event.site]: event.headcount } };
        this.versions.rollcall = v;
      } else {
        return false;
      }
      this.versions[answerKey] = v;
      return true;
    }
    if (v <= this.seen('rollcall')) return false;
    if (event.type === 'roll_call_started') {
      const kept = current && current.id === event.roll_call ? current.answers : {};
      this.state.rollcall = { id: event.roll_call, started_at: event.started_at, answers: kept };
    } else if (!current || current.id === event.roll_call) {
      this.state.rollcall = null;
    }
    this.versions.rollcall = v;
    return true;
  }
}

// getRandomValues works on plain http too, randomUUID does not
const randomToken = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

function pageToken(path) {
  const key = `giaoban.page.${path.split('?')[0]}`;
  try {
    const kept = sessionStorage.getItem(key);
    if (kept && /^[0-9a-f]{32}$/.test(kept)) return kept;
    const token = randomToken();
    sessionStorage.setItem(key, token);
    return token;
  } catch {
    return randomToken(); // storage refused (a privacy mode): a token for this load only
  }
}

export class LiveSocket {
  constructor(path, { onSnapshot, onEvent, onStatus } = {}) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.url = `${scheme}//${location.host}${path}`;
    this.onSnapshot = onSnapshot || (() => {});
    this.onEvent = onEvent || (() => {});
    this.onStatus = onStatus || (() => {});
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.ws = null;
    this.final = null; // {code, reason} once we must not reconnect
    this.state = null;
    this.view = null;
    this.pingTimer = null;
    this.takingOver = false;
    // this page's own token (docs/protocol.md §5): a reconnect after a network cut takes the
    // site back only while the server's hold still names this page. Kept for the tab
    // (sessionStorage), so a reload or a return to the join page in the same tab is the same
    // page too: the old connection may still hold the site on the server, and the user must
    // not be asked to take over from themselves.
    this.page = pageToken(path);
  }

  connect() {
    if (this.final) return;
    this.onStatus('connecting');
    // every connection names the page; takeover=1 only once the user said "Tiếp quản" (a page
    // that reconnects after a cut is recognised by its token, and is asked if another page has
    // taken the site over meanwhile)
    const ws = new WebSocket(this._url());
    this.ws = ws;
    ws.onmessage = (e) => this._frame(e.data);
    ws.onclose = (e) => this._closed(ws, e);
    ws.onerror = () => {};
  }

  _frame(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg.type === 'snapshot') {
      this.attempt = 0;
      this.takingOver = false; // the site is ours: a later reconnect is recognised by the page token
      this.view = new LiveView(msg);
      this.state = this.view.state;
      this.state.speaking = null;
      this.onStatus('open');
      this._startPing();
      this.onSnapshot(this.state);
      return;
    }
    if (msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)
        && ['ack', 'error', 'answer', 'pong'].includes(msg.type)) {
      const { resolve, timer } = this.pending.get(msg.id);
      clearTimeout(timer);
      this.pending.delete(msg.id);
      resolve(msg);
      return;
    }
    if (msg.type === 'replaced') { this.closeReason = 'replaced'; return; } // the close (4409) follows
    // a refusal may come as an error frame before the close: Daphne drops close reasons
    if (msg.type === 'error' && (msg.id === undefined || msg.id === null) && msg.code in CLOSE_MESSAGES) {
      this.closeReason = msg.code;
      return;
    }
    if (this.view && !this.view.apply(msg) && !TRANSIENT.has(msg.type)) return; // stale or unknown
    this.onEvent(msg, this.state);
  }

  _closed(ws, e) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.resolve({ type: 'error', code: 'disconnected', message: _('Mất kết nối.') }); }
    this.pending.clear();
    if (FINAL_CLOSE_CODES.has(e.code)) {
      this.final = { code: e.code, reason: e.reason || this.closeReason || '' };
      this.onStatus('closed', this.final);
      return;
    }
    this.attempt += 1;
    const base = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * base / 2;
    this.onStatus('reconnecting', { delay, attempt: this.attempt });
    setTimeout(() => this.connect(), delay);
  }

  _url() {
    const sep = this.url.includes('?') ? '&' : '?';
    return `${this.url}${sep}page=${this.page}${this.takingOver ? '&takeover=1' : ''}`;
  }

  // Connect again taking the site over from the connection that holds it (after the user
  // said so: "Tiếp quản?" or "Dùng lại điểm cầu ở máy này").
  takeover() {
    this.final = null;
    this.closeReason = null;
    this.takingOver = true;
    this.attempt = 0;
    this.connect();
  }

  // Close for good (the participant left): no reconnect.
  close() {
    this.final = { code: 1000, reason: 'left' };
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) { try { ws.close(1000, 'left'); } catch { /* already closed */ } }
    this.onStatus('closed', this.final);
  }

  _startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => { this.request({ type: 'ping' }, 10000); }, 20000);
  }

  get open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN && !!this.state; }

  request(message, timeoutMs = 15000) {
    return new Promise((resolve) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        resolve({ type: 'error', code: 'disconnected', message: _('Chưa kết nối tới máy chủ.') });
        return;
      }
      const id = `c${this.nextId++}`;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ type: 'error', code: 'timeout', message: _('Máy chủ không trả lời.') });
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
      this.ws.send(JSON.stringify({ ...message, id }));
    });
  }
}

export function fold(text) {
  // Diacritic-insensitive search key (like portal.text.fold).
  return (text || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/g, 'd').replace(/Đ/g, 'D').toLowerCase();
}

export const CLOSE_MESSAGES = {
  unauthenticated: _('Bạn cần đăng nhập để tham dự.'),
  forbidden: _('Bạn không được mời dự hội nghị này.'),
  join_link_invalid: _('Liên kết tham dự không hợp lệ.'),
  join_link_expired: _('Liên kết tham dự đã hết hạn.'),
  join_link_revoked: _('Liên kết tham dự đã bị thu hồi.'),
  not_found: _('Không tìm thấy hội nghị.'),
  replaced: _('Điểm cầu đã được mở trên máy khác; trang này đã ngắt kết nối.'),
  site_in_use: _('Điểm cầu này đang được kết nối từ máy khác.'),
};
