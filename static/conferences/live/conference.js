// What the join page and the chair console share: the socket, the media session, the stage
// (main, chair, thumbnails, self view), the agenda line, status flags for tests and
// `window.giaoban` (a debug handle: state and stats snapshots).
import { CLOSE_MESSAGES, LiveSocket } from './protocol.js';
import { MediaSession } from './media.js';
import { _, fmt } from './i18n.js';

const STATUS_TEXT = {
  draft: _('Bản nháp'), scheduled: _('Chưa bắt đầu'), live: _('Đang diễn ra'), ended: _('Đã kết thúc'), cancelled: _('Đã huỷ'),
};
const MEDIA_TEXT = {
  idle: _('Chưa kết nối hình ảnh'), connecting: _('Đang kết nối hình ảnh…'), negotiated: _('Đang thiết lập đường truyền…'),
  connected: _('Đã kết nối hình ảnh'), disconnected: _('Đường truyền bị gián đoạn…'), failed: _('Mất đường truyền, đang kết nối lại…'),
  waiting: _('Phòng họp đang khởi động…'),
};
const OFFER_ERRORS = {
  no_candidates: _('Không thiết lập được đường truyền hình ảnh: máy này không có địa chỉ mạng mà máy chủ chấp nhận. Hãy kiểm tra mạng hoặc cho phép camera/micro rồi tải lại trang.'),
  not_live: _('Hội nghị chưa diễn ra.'),
  room_closed: _('Phòng họp đã đóng.'),
  timeout: _('Máy chủ hình ảnh không trả lời, đang thử lại…'),
  disconnected: _('Mất kết nối máy chủ, đang thử lại…'),
};
const QUALITY_TEXT = { good: _('tốt'), fair: _('trung bình'), poor: _('kém'), unknown: '—' };

export const $ = (sel, root = document) => root.querySelector(sel);

export function siteName(state, code) {
  if (!code || !state) return '';
  const s = state.sites[code];
  return s ? s.name : '';
}

export class Live {
  constructor(config, { onRender, onEvent } = {}) {
    this.config = config;
    this.onRender = onRender || (() => {});
    this.onEventHook = onEvent || (() => {});
    this.local = null;
    this.slotStreams = {};
    this.socket = new LiveSocket(config.ws_path, {
      onSnapshot: (state) => this._snapshot(state),
      onEvent: (event, state) => this._event(event, state),
      onStatus: (status, detail) => this._socketStatus(status, detail),
    });
    this.media = new MediaSession(this.socket, {
      thumbnails: config.thumbnails,
      maxBitrate: config.max_bitrate,
      onSlots: (slots) => this._attach(slots),
      onState: (s, detail) => this._mediaState(s, detail),
      onStats: (stats) => this._stats(stats),
    });
    document.body.dataset.ws = 'idle';
    document.body.dataset.media = 'idle';
    window.giaoban = {
      live: this,
      state: () => (this.socket.state ? JSON.parse(JSON.stringify(this.socket.state)) : null),
      stats: () => JSON.parse(JSON.stringify(this.media.stats)),
      request: (msg) => this.socket.request(msg),
    };
  }

  get state() { return this.socket.state; }
  get me() { return this.state ? this.state.me : null; }

  start(localStream) {
    this.local = localStream;
    this.media.setLocalStream(localStream);
    const self = $('[data-slot=self]');
    if (self) { self.srcObject = localStream; self.muted = true; }
    this.socket.connect();
  }

  setLocalStream(stream) {
    this.local = stream;
    this.media.setLocalStream(stream);
    const self = $('[data-slot=self]');
    if (self) self.srcObject = stream;
    if (this.media.wanted) this.media.start('devices');
  }

  async send(message) {
    const reply = await this.socket.request(message);
    if (reply.type === 'error') this.flash(reply.message || reply.code, 'bad');
    return reply;
  }

  flash(text, kind = 'ok') {
    const box = $('[data-role=flash]');
    if (!box) return;
    box.textContent = text;
    box.className = `notice ${kind}`;
    box.hidden = false;
    clearTimeout(this._flashTimer);
    this._flashTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  _socketStatus(status, detail) {
    document.body.dataset.ws = status;
    const el = $('[data-role=ws-status]');
    if (status === 'closed') {
      this.media.stop();
      // the reason may not reach the browser: fall back on the close code (docs/protocol.md §1)
      const reason = detail.reason || { 4401: 'unauthenticated', 4403: 'forbidden', 4404: 'not_found', 4409: 'replaced' }[detail.code];
      const text = CLOSE_MESSAGES[reason] || fmt(_('Kết nối bị đóng (%(code)s).'), { code: detail.code });
      const banner = $('[data-role=closed]');
      if (banner) { banner.textContent = text; banner.hidden = false; }
      if (el) el.textContent = _('Đã ngắt kết nối');
      return;
    }
    if (el) {
      el.textContent = { connecting: _('Đang kết nối máy chủ…'), open: _('Đã kết nối máy chủ'), reconnecting: _('Mất kết nối máy chủ, đang kết nối lại…') }[status] || status;
      el.dataset.status = status;
    }
  }

  _snapshot(state) {
    this._syncMedia('reconnect');
    this.render();
  }

  _event(event, state) {
    if (event.type === 'media.restart') this.media.start('restart');
    if (event.type === 'conference') this._syncMedia('status');
    if (event.type === 'absent.called') this.flash(fmt(_('Đã gọi %(sites)s điểm cầu vắng (%(notified)s thư).'), { sites: event.sites.length, notified: event.notified }));
    this.onEventHook(event, state);
    this.render();
  }

  _syncMedia(reason) {
    const live = this.state && this.state.conference.status === 'live';
    if (live && (reason === 'reconnect' || !this.media.wanted)) this.media.start(reason);
    if (!live && this.media.wanted) this.media.stop();
  }

  _mediaState(s, detail) {
    document.body.dataset.media = s;
    const el = $('[data-role=media-status]');
    if (el) {
      let text = MEDIA_TEXT[s] || s;
      if (s === 'waiting' && detail && detail.code && detail.code !== 'media_unavailable') {
        text = OFFER_ERRORS[detail.code] || fmt(_('Chưa vào được phòng họp: %(reason)s'), { reason: detail.message || detail.code });
      }
      if (s === 'idle' && this.state && this.state.conference.status !== 'live') text = _('Hội nghị chưa diễn ra: hình ảnh sẽ tự kết nối khi chủ trì bắt đầu.');
      el.textContent = text;
      el.dataset.status = s;
    }
  }

  _attach(slots) {
    this.slotStreams = slots;
    for (const [name, stream] of Object.entries(slots)) {
      if (name === 'main' && this.me && this.mainSite() === this.me.site) continue;
      if (name === 'chair' && this.state && this.me && this.state.conference.chair_site === this.me.site) continue;
      const video = $(`[data-slot=${name}]`);
      if (video) { video.srcObject = stream; video.play().catch(() => {}); }
    }
    this.render();
  }

  _stats(stats) {
    const el = $('[data-role=quality]');
    if (el) {
      const parts = [fmt(_('Chất lượng: %(quality)s'), { quality: QUALITY_TEXT[stats.quality] || '—' })];
      if (stats.rtt !== null && stats.rtt !== undefined) parts.push(fmt(_('trễ %(ms)s ms'), { ms: Math.round(stats.rtt * 1000) }));
      if (stats.loss !== null && stats.loss !== undefined) parts.push(fmt(_('mất gói %(percent)s'), { percent: `${(stats.loss * 100).toFixed(1)}%` }));
      if (stats.inKbps !== null) parts.push(fmt(_('nhận %(kbps)s kbit/s'), { kbps: stats.inKbps }));
      if (stats.outKbps !== null) parts.push(fmt(_('gửi %(kbps)s kbit/s'), { kbps: stats.outKbps }));
      el.textContent = parts.join(' · ');
      el.dataset.quality = stats.quality;
    }
    // thumbnails: show only the slots that carry video
    for (let i = 0; i < this.config.thumbnails; i++) {
      const tile = $(`[data-tile=thumb${i}]`);
      const m = stats.mids[`thumb${i}/video`];
      if (tile) tile.hidden = !(m && m.frames > 0);
    }
  }

  mainSite() {
    const s = this.state;
    return s ? (s.broadcast || s.floor || null) : null;
  }

  render() {
    const s = this.state;
    if (!s) return;
    const me = s.me || {};
    const main = this.mainSite();
    const body = document.body.dataset;
    body.status = s.conference.status;
    body.mainSite = main || '';
    body.floor = s.floor || '';
    body.mutedByChair = s.muted.includes(me.site) ? '1' : '0';
    body.hand = s.hands.includes(me.site) ? '1' : '0';
    body.rollcall = s.rollcall ? String(s.rollcall.id) : '';
    const text = (role, value) => { const el = $(`[data-role=${role}]`); if (el) el.textContent = value; };
    text('conference-status', STATUS_TEXT[s.conference.status] || s.conference.status);
    let mainLabel = main ? fmt(s.broadcast ? _('Phát: %(site)s') : _('Phát biểu: %(site)s'), { site: siteName(s, main) }) : _('Chưa có điểm cầu phát biểu');
    if (main && main === me.site) mainLabel = s.broadcast ? _('Điểm cầu của bạn đang được phát') : _('Bạn đang phát biểu');
    text('main-label', mainLabel);
    text('chair-label', s.conference.chair_site === me.site ? _('Bạn (chủ trì)') : fmt(_('Chủ trì: %(site)s'), { site: siteName(s, s.conference.chair_site) || '—' }));
    text('me-label', `${me.site_name || ''}${me.name ? ` · ${me.name}` : ''}`);
    const item = s.agenda.find((a) => a.id === s.current_item);
    const agendaText = item
      ? `${item.position}/${s.agenda.length}. ${item.title}${item.presenter_name ? ` — ${item.presenter_name}` : ''}`
      : (s.agenda.length ? _('Chưa vào nội dung nào') : _('Chưa có chương trình'));
    text('agenda', agendaText);
    // don't play back our own audio
    // the SFU never sends a site its own media: while we hold the floor, the stage shows us
    const mainVideo = $('[data-slot=main]');
    if (mainVideo) {
      const mine = main === me.site;
      const source = mine ? this.local : this.slotStreams.main;
      if (source && mainVideo.srcObject !== source) { mainVideo.srcObject = source; mainVideo.play().catch(() => {}); }
      mainVideo.muted = mine;
      mainVideo.closest('.stage').classList.toggle('self-main', mine && !!this.local);
    }
    const chairVideo = $('[data-slot=chair]');
    if (chairVideo) {
      const mine = s.conference.chair_site === me.site;
      const source = mine ? this.local : this.slotStreams.chair;
      if (source && chairVideo.srcObject !== source) { chairVideo.srcObject = source; chairVideo.play().catch(() => {}); }
      chairVideo.muted = mine;
      const self = $('.self-tile');
      if (self) self.hidden = mine && !!this.local; // the chair tile already shows us
    }
    const mutedBanner = $('[data-role=server-muted]');
    if (mutedBanner) mutedBanner.hidden = !s.muted.includes(me.site);
    this.onRender(s);
  }
}
