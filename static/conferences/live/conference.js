// What the join page and the chair console share: the socket, the media session, the stage
// (main, chair, thumbnails, self view), the agenda line, status flags for tests and
// `window.giaoban` (a debug handle: state and stats snapshots).
//
// The stage: the site that has the floor (or is broadcast) fills `main`; when nobody has the
// floor `main` shows the chair. Every tile carries its site's name (whole name on hover and on
// tap). When the conference ends the page says so once, drops its media and releases the
// camera and microphone.
import { CLOSE_MESSAGES, LiveSocket } from './protocol.js';
import { MediaSession } from './media.js';
import { Content, storeNoContent } from './content.js';
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
// what the SFU's bandwidth allocation gives us (`quality` events); nothing while it is everything
const RECEIVED_TEXT = { reduced: _('đang nhận hình chất lượng thấp hơn (băng thông hạn chế)'), audio: _('chỉ nhận âm thanh (băng thông quá thấp cho hình)') };

export const $ = (sel, root = document) => root.querySelector(sel);

export function siteName(state, code) {
  if (!code || !state) return '';
  const s = state.sites[code];
  return s ? s.name : '';
}

// The name on a video tile: the whole site name, without the "Điểm cầu" every name starts
// with (it is what truncated every label to "Điểm cầ…").
export function tileName(name) {
  return (name || '').replace(/^Điểm cầu\s+/i, '');
}

export class Live {
  // `contentChoice`: the page lets its user opt out of the shared screen (the join page,
  // content.js); `noContent`: that choice is on at the start (the first offer has the content
  // slot `inactive`). A connection that may not read the conference's documents (a
  // confidential conference's uninvited observer: the snapshot's `me.chat.read` is false, the
  // same rule) is sent no content by the server, and does not ask for it either.
  constructor(config, { onRender, onEvent, onMedia, contentChoice = false, noContent = false } = {}) {
    this.config = config;
    this.contentChoice = contentChoice;
    this.noContent = contentChoice && noContent;
    this.onRender = onRender || (() => {});
    this.onEventHook = onEvent || (() => {});
    this.onMediaHook = onMedia || (() => {});
    this.local = null;
    this.left = false;
    this.slotStreams = {};
    this.slotSources = {}; // slot name → site code, from `slots` events
    this.links = {}; // site code → {state, quality, at} from `link` events (console)
    // site code → {quality: full|reduced|audio, estimate_kbps} from the SFU's `quality` events:
    // what its bandwidth allocation lets the site receive
    this.received = {};
    this.socket = new LiveSocket(config.ws_path, {
      onSnapshot: (state) => this._snapshot(state),
      onEvent: (event, state) => this._event(event, state),
      onStatus: (status, detail) => this._socketStatus(status, detail),
    });
    this.media = new MediaSession(this.socket, {
      thumbnails: config.thumbnails,
      maxBitrate: config.max_bitrate,
      simulcast: config.simulcast !== false,
      onSlots: (slots) => this._attach(slots),
      onState: (s, detail) => this._mediaState(s, detail),
      onStats: (stats) => this._stats(stats),
      onScreenEnded: () => this.content.screenEnded(),
      receiveContent: !this.noContent,
    });
    this.content = new Content(this);
    document.body.dataset.ws = 'idle';
    document.body.dataset.media = 'idle';
    window.giaoban = {
      live: this,
      state: () => (this.socket.state ? JSON.parse(JSON.stringify(this.socket.state)) : null),
      stats: () => JSON.parse(JSON.stringify(this.media.stats)),
      request: (msg) => this.socket.request(msg),
    };
    document.addEventListener('click', (e) => {
      const label = e.target.closest('.stage .label, .tile figcaption');
      if (label) label.classList.toggle('expanded'); // tap shows the whole name
    });
  }

  get state() { return this.socket.state; }
  get me() { return this.state ? this.state.me : null; }
  get ended() { return !!this.state && ['ended', 'cancelled'].includes(this.state.conference.status); }

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

  // Camera and microphone off for good (the conference ended, or we left): the browser's
  // "camera in use" light goes out.
  releaseLocal() {
    if (this.local) this.local.getTracks().forEach((t) => t.stop());
    this.local = null;
    this.media.setLocalStream(null);
    for (const v of document.querySelectorAll('video')) {
      if (v.srcObject) v.srcObject = null;
    }
    document.body.dataset.camera = 'released';
  }

  // "Không nhận video trình chiếu" on/off: remembered (content.js), and the next offer carries
  // the content slot `inactive` (or `recvonly` again) — a new peer connection, made now.
  setReceiveContent(on) {
    if (this.contentChoice) storeNoContent(!on);
    this.noContent = !on;
    const wanted = on && !this.contentWithheld;
    if (this.media.receiveContent === wanted) { this.render(); return; }
    this.media.receiveContent = wanted;
    if (this.media.wanted) this.media.start('content');
    this.render();
  }

  get contentWithheld() {
    const me = this.me;
    return !!me && !!me.chat && me.chat.read === false;
  }

  // "Rời phòng họp": out of the media room and off the socket, camera released.
  async leave() {
    if (this.left) return;
    this.left = true;
    document.body.dataset.left = '1';
    if (this.socket.open) await this.socket.request({ type: 'leave' }, 3000);
    this.media.stop();
    this.socket.close();
    this.releaseLocal();
    this.render();
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
      if (this.left) { if (el) el.textContent = ''; return; }
      // the reason may not reach the browser: fall back on the close code (docs/protocol.md §1)
      const reason = detail.reason || { 4401: 'unauthenticated', 4403: 'forbidden', 4404: 'not_found', 4409: 'replaced', 4423: 'site_in_use' }[detail.code];
      if (reason === 'site_in_use' && window.confirm(_('Điểm cầu này đang được kết nối từ máy khác. Tiếp quản?'))) {
        this.socket.takeover();
        return;
      }
      const text = CLOSE_MESSAGES[reason] || fmt(_('Kết nối bị đóng (%(code)s).'), { code: detail.code });
      const banner = $('[data-role=closed]');
      if (banner) { banner.textContent = text; banner.hidden = false; }
      const box = $('[data-role=closed-box]');
      if (box) box.hidden = false;
      const retake = $('[data-action=retake]');
      if (retake) retake.hidden = !['replaced', 'site_in_use'].includes(reason);
      if (el) el.textContent = _('Đã ngắt kết nối');
      return;
    }
    if (el) {
      el.textContent = { connecting: _('Đang kết nối máy chủ…'), open: _('Đã kết nối máy chủ'), reconnecting: _('Mất kết nối máy chủ, đang kết nối lại…') }[status] || status;
      el.dataset.status = status;
    }
  }

  // "Dùng lại điểm cầu ở máy này": take the site back from the machine that took it.
  retake() {
    const banner = $('[data-role=closed-box]') || $('[data-role=closed]');
    if (banner) banner.hidden = true;
    this.socket.takeover();
  }

  _snapshot(state) {
    const box = $('[data-role=closed-box]') || $('[data-role=closed]');
    if (box) box.hidden = true;
    // a watch-only observer publishes nothing (the server refuses an offer that does): a page
    // that opened the camera (the console, for a leader) lets it go before offering
    if (state.me && state.me.role === 'observer' && this.local) this.releaseLocal();
    document.body.dataset.role = (state.me && state.me.role) || '';
    this.media.publishContent = !(state.me && state.me.role === 'observer');
    this.media.receiveContent = !this.noContent && !this.contentWithheld;
    this._syncMedia('reconnect');
    this.render();
  }

  _event(event, state) {
    if (event.type === 'media.restart') this.media.start('restart');
    if (event.type === 'conference') this._syncMedia('status');
    if (event.type === 'slots' && event.slots) { this.slotSources = { ...event.slots }; }
    if (event.type === 'publish_layers' && event.layers && this.media) this.media.setPublishLayers(event.layers);
    if (event.type === 'link' && event.site) this.links[event.site] = { ...event, at: Date.now() };
    if (event.type === 'quality' && event.site) {
      this.received[event.site] = { quality: event.quality, estimate_kbps: event.estimate_kbps };
      if (this.me && event.site === this.me.site && this.media.stats) this._stats(this.media.stats);
    }
    if (event.type === 'absent.called') this.flash(fmt(_('Đã gọi %(sites)s điểm cầu vắng (%(notified)s thư).'), { sites: event.sites.length, notified: event.notified }));
    this.onEventHook(event, state);
    this.render();
  }

  _syncMedia(reason) {
    if (this.left) return;
    const live = this.state && this.state.conference.status === 'live';
    if (live && (reason === 'reconnect' || !this.media.wanted)) this.media.start(reason);
    if (!live && this.media.wanted) this.media.stop();
    if (this.ended && this.local) this.releaseLocal();
  }

  _mediaState(s, detail) {
    this.onMediaHook(s, detail);
    document.body.dataset.media = s;
    this.mediaState = s;
    const el = $('[data-role=media-status]');
    const help = $('[data-role=media-help]');
    // what to check: ICE has not connected for a while, or the last attempts failed
    if (help && s !== 'connecting' && s !== 'negotiated') help.hidden = !['stuck', 'failed', 'retrying'].includes(s);
    if (el) {
      let text = MEDIA_TEXT[s] || s;
      if (s === 'waiting' && detail && detail.code && detail.code !== 'media_unavailable') {
        text = OFFER_ERRORS[detail.code] || fmt(_('Chưa vào được phòng họp: %(reason)s'), { reason: detail.message || detail.code });
      }
      if (s === 'stuck') text = _('Chưa kết nối được hình ảnh tới máy chủ, đang thử lại…');
      if (s === 'retrying') text = fmt(_('Chưa kết nối được hình ảnh, thử lại sau %(s)s giây…'), { s: Math.max(1, Math.round(detail.wait / 1000)) });
      if (s === 'idle' && this.state && this.state.conference.status === 'scheduled') text = _('Hội nghị chưa diễn ra: hình ảnh sẽ tự kết nối khi chủ trì bắt đầu.');
      if (s === 'idle' && (this.ended || this.left)) text = '';
      el.textContent = text;
      el.dataset.status = s;
    }
    const quality = $('[data-role=quality]');
    if (quality && s !== 'connected') quality.textContent = '';
    this._reportLink();
    this.render();
  }

  // Tell the console how our media link is (state and quality): on a change, else every 20 s;
  // never more than one report per 2.5 s (the server takes two per 5 s).
  _reportLink() {
    const me = this.me;
    if (!me || me.role === 'observer' || this.left || !this.socket.open) return;
    const report = { state: this.mediaState || 'idle', quality: (this.media.stats && this.media.stats.quality) || 'unknown' };
    const now = Date.now();
    const last = this._linkSent;
    if (last && last.state === report.state && last.quality === report.quality && now - last.at < 20000) return;
    if (last && now - last.at < 2500) {
      clearTimeout(this._linkTimer);
      this._linkTimer = setTimeout(() => this._reportLink(), 2500 - (now - last.at));
      return;
    }
    this._linkSent = { ...report, at: now };
    this.socket.request({ type: 'link', ...report }, 10000);
  }

  _attach(slots) {
    this.slotStreams = slots;
    for (const [name, stream] of Object.entries(slots)) {
      if (name === 'main' || name === 'chair' || name === 'content') continue; // render() decides
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
      const received = this.me && this.received[this.me.site];
      if (received && RECEIVED_TEXT[received.quality]) parts.push(RECEIVED_TEXT[received.quality]);
      if (el.dataset) el.dataset.received = (received && received.quality) || '';
      el.textContent = this.media.state === 'connected' ? parts.join(' · ') : '';
      el.dataset.quality = stats.quality;
    }
    this._reportLink();
    this.render();
  }

  mainSite() {
    const s = this.state;
    return s ? (s.broadcast || s.floor || null) : null;
  }

  _thumbs(s) {
    // thumbnails: only the slots that carry video, each labelled with its site
    const stats = this.media.stats || { mids: {} };
    for (let i = 0; i < this.config.thumbnails; i++) {
      const tile = $(`[data-tile=thumb${i}]`);
      if (!tile) continue;
      const m = stats.mids[`thumb${i}/video`];
      const source = this.slotSources[`thumb${i}`];
      tile.hidden = this.ended || !(m && m.frames > 0);
      const cap = $('figcaption', tile);
      const name = source ? siteName(s, source) : '';
      if (cap) { cap.textContent = tileName(name) || _('Điểm cầu'); cap.title = name; }
      tile.dataset.site = source || '';
    }
  }

  _video(el, source, muted) {
    if (!el) return;
    if (source !== undefined && el.srcObject !== source) { el.srcObject = source || null; if (source) el.play().catch(() => {}); }
    el.muted = muted;
  }

  render() {
    const s = this.state;
    if (!s) return;
    const me = s.me || {};
    const main = this.mainSite();
    const chairSite = s.conference.chair_site;
    const ended = this.ended;
    const body = document.body.dataset;
    body.status = s.conference.status;
    body.mainSite = ended ? '' : (main || '');
    body.floor = ended ? '' : (s.floor || '');
    body.mutedByChair = !ended && s.muted.includes(me.site) ? '1' : '0';
    body.hand = !ended && s.hands.includes(me.site) ? '1' : '0';
    body.rollcall = s.rollcall && !ended ? String(s.rollcall.id) : '';
    body.speaking = s.speaking || '';
    const text = (role, value) => { const el = $(`[data-role=${role}]`); if (el) el.textContent = value; };
    const pill = $('[data-role=conference-status]');
    if (pill) { pill.textContent = STATUS_TEXT[s.conference.status] || s.conference.status; pill.hidden = ended; }
    // participants must know they are recorded: shown on every live page while it records
    const rec = $('[data-role=recording]');
    if (rec) rec.hidden = ended || s.conference.status !== 'live' || s.recording !== 'on';
    // the stage: the floor (or broadcast) site; nobody has it → the chair
    const showsChair = !main || main === chairSite;
    const stageSite = main || chairSite;
    const mine = !!me.site && stageSite === me.site;
    let mainLabel = '';
    if (!ended && stageSite) {
      const name = siteName(s, stageSite);
      if (mine) mainLabel = main ? (s.broadcast ? _('Điểm cầu của bạn đang được phát') : _('Bạn đang phát biểu')) : _('Bạn (chủ trì)');
      else if (main) mainLabel = fmt(s.broadcast ? _('Phát: %(site)s') : _('Phát biểu: %(site)s'), { site: tileName(name) });
      else mainLabel = fmt(_('Chủ trì: %(site)s'), { site: tileName(name) });
      const label = $('[data-role=main-label]');
      if (label) label.title = name;
    }
    text('main-label', mainLabel);
    const mainLabelEl = $('[data-role=main-label]');
    if (mainLabelEl) mainLabelEl.hidden = !mainLabel;
    const mainVideo = $('[data-slot=main]');
    if (mainVideo) {
      // the SFU never sends a site its own media: our own stage shows the local camera
      const source = ended ? null : (mine ? this.local : (showsChair ? this.slotStreams.chair : this.slotStreams.main));
      // when the stage shows the chair, its sound comes from the chair tile: do not play it twice
      this._video(mainVideo, source, mine || showsChair);
      const stage = mainVideo.closest('.stage');
      stage.classList.toggle('self-main', mine && !!this.local);
      stage.dataset.site = stageSite || '';
      stage.classList.toggle('is-speaking', !!s.speaking && s.speaking === stageSite);
    }
    const chairVideo = $('[data-slot=chair]');
    if (chairVideo) {
      const chairMine = !!me.site && chairSite === me.site;
      this._video(chairVideo, ended ? null : (chairMine ? this.local : this.slotStreams.chair), chairMine);
      const tile = chairVideo.closest('.tile');
      // the stage already shows the chair (or we are the chair): no second picture of it
      if (tile) {
        tile.classList.toggle('on-stage', showsChair || chairMine);
        tile.hidden = ended;
        tile.classList.toggle('is-speaking', !!s.speaking && s.speaking === chairSite);
      }
      const self = $('.self-tile');
      if (self) self.hidden = ended || this.left || !this.local || mine || chairMine; // the stage or the chair tile shows us
    }
    const chairName = siteName(s, chairSite);
    text('chair-label', me.site && chairSite === me.site ? _('Bạn (chủ trì)') : fmt(_('Chủ trì: %(site)s'), { site: tileName(chairName) || '—' }));
    const chairLabel = $('[data-role=chair-label]');
    if (chairLabel) chairLabel.title = chairName;
    this._thumbs(s);
    text('me-label', `${me.site_name || ''}${me.name ? ` · ${me.name}` : ''}`);
    const item = s.agenda.find((a) => a.id === s.current_item);
    const agendaText = item
      ? `${item.position}/${s.agenda.length}. ${item.title}${item.presenter_name ? ` — ${item.presenter_name}` : ''}`
      : (s.agenda.length ? _('Chưa vào nội dung nào') : _('Chưa có chương trình'));
    text('agenda', agendaText);
    const mutedBanner = $('[data-role=server-muted]');
    if (mutedBanner) mutedBanner.hidden = ended || this.left || !s.muted.includes(me.site);
    const endedNote = $('[data-role=ended]');
    if (endedNote) endedNote.hidden = !ended;
    const leftNote = $('[data-role=left]');
    if (leftNote) leftNote.hidden = !this.left || ended;
    this.content.render(s);
    this.onRender(s);
  }
}
