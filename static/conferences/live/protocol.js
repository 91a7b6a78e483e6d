// WebSocket client of /ws/conferences/<code>/ (docs/protocol.md) and the live state store.
// Reconnects by itself with a bounded, jittered back-off; never after 4409 (replaced) or a
// refusal (4401/4403/4404). Requests carry ids; their replies resolve promises.

import { _ } from './i18n.js';

const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404, 4409]);

export function applyEvent(state, event) {
  // Mirror of conferences.services.live.apply_event: mutates and returns `state`.
  if (!state) return state;
  const site = state.sites[event.site || ''];
  switch (event.type) {
    case 'conference': state.conference = event.conference; break;
    case 'agenda': state.current_item = event.current_item; break;
    case 'floor': case 'broadcast': case 'muted': case 'hands': state[event.type] = event[event.type]; break;
    case 'media': if (site) { site.video = !!event.video; site.audio = !!event.audio; } break;
    case 'presence': if (site) site.connected = 'joined_at' in event; break;
    case 'attendance': if (site) { site.status = event.status; site.headcount = event.headcount; } break;
    case 'roll_call_started': state.rollcall = { id: event.roll_call, started_at: event.started_at, answers: {} }; break;
    case 'roll_call_answer':
      if (state.rollcall && state.rollcall.id === event.roll_call) state.rollcall.answers[event.site] = event.headcount;
      break;
    case 'roll_call_ended':
      if (state.rollcall && state.rollcall.id === event.roll_call) state.rollcall = null;
      break;
    case 'speaking': state.speaking = event.site || null; break;
    default: break;
  }
  return state;
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
    this.pingTimer = null;
  }

  connect() {
    if (this.final) return;
    this.onStatus('connecting');
    const ws = new WebSocket(this.url);
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
      this.state = msg;
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
    if (msg.type === 'replaced') return; // the close (4409) follows
    if (this.state) applyEvent(this.state, msg);
    this.onEvent(msg, this.state);
  }

  _closed(ws, e) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.resolve({ type: 'error', code: 'disconnected', message: _('Mất kết nối.') }); }
    this.pending.clear();
    if (FINAL_CLOSE_CODES.has(e.code)) {
      this.final = { code: e.code, reason: e.reason };
      this.onStatus('closed', this.final);
      return;
    }
    this.attempt += 1;
    const base = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * base / 2;
    this.onStatus('reconnecting', { delay, attempt: this.attempt });
    setTimeout(() => this.connect(), delay);
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
  not_found: _('Không tìm thấy hội nghị.'),
  replaced: _('Điểm cầu này vừa được mở ở một cửa sổ hoặc máy khác; trang này đã ngắt kết nối.'),
};
