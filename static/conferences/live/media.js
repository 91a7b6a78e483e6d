// The media connection: one RTCPeerConnection per (re)join, offered in the SFU's layout
// (media_worker/sfu/signalling.py): 0 publish video, 1 publish audio, 2/3 main video/audio,
// 4/5 chair video/audio, 6.. thumbnail videos, then the two content lines (publish content,
// slot `content`; the offer says `content: true`); one BUNDLE group, all candidates in the offer.
//
// Screen sharing (issue 14): the content publish line is always offered `sendonly` without a
// track (`inactive` for a page that never presents); `shareScreen()` puts the captured screen
// on it with `replaceTrack` — no renegotiation — and the SFU forwards it only while the server
// says this site presents. A page may opt out of receiving content (`receiveContent: false`).
//
// Failure is bounded and said: a peer connection that goes `failed`, or that has not connected
// ICE_RETRY_MS after the answer, is replaced after a back-off that doubles per consecutive
// failure (capped, jittered) and resets once media has stayed up for STABLE_MS; the state
// `stuck` (ICE not connected after ICE_WARN_MS) lets the page tell the operator what to check.

import { _ } from './i18n.js';

const SLOT_LINES = (thumbnails) => {
  const lines = [['main', 'video'], ['main', 'audio'], ['chair', 'video'], ['chair', 'audio']];
  for (let i = 0; i < thumbnails; i++) lines.push([`thumb${i}`, 'video']);
  return lines;
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Simulcast (docs/sfu.md): the camera as three VP8 layers, lowest first as libwebrtc wants
// them; the SFU shows `h` in main, `m` in chair, `l` in thumbnails and tells the page which
// layers anyone watches (`publish_layers`): the others are paused. Firefox lists its layers in
// another order and keeps one encoding. Off unless the page asks (`simulcast: true`); the live
// pages ask unless MEDIA_SIMULCAST is off (their config's `simulcast`).
export const LAYERS = [
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 600000 },
  { rid: 'h', scaleResolutionDownBy: 1 },
];
const simulcastCapable = () => typeof navigator !== 'undefined' && !/Firefox\//.test(navigator.userAgent);

// Audio NACK (docs/sfu.md): Chromium offers Opus without `nack`, so neither it nor the SFU
// would ever ask for a lost audio packet again. With `a=rtcp-fb:<opus> nack` in the offer the
// SFU answers it; Chromium then keeps an audio send history and retransmits what the SFU asks
// for (audio lost on the way in is recovered for every viewer), and NACKs the audio slots it
// receives. Added once per Opus payload type, only where missing; line endings kept.
export function offerOpusNack(sdp) {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp.split(/(?=^m=)/m).map((section) => {
    if (!section.startsWith('m=audio')) return section;
    const lines = section.split(eol);
    const pts = lines.map((l) => /^a=rtpmap:(\d+) opus\//i.exec(l)).filter(Boolean).map((m) => m[1]);
    for (const pt of pts) {
      if (lines.some((l) => l === `a=rtcp-fb:${pt} nack` || l === 'a=rtcp-fb:* nack')) continue;
      let at = -1;
      lines.forEach((l, i) => { if (new RegExp(`^a=(rtpmap|fmtp|rtcp-fb):${pt}[ \t]`).test(l)) at = i; });
      if (at >= 0) lines.splice(at + 1, 0, `a=rtcp-fb:${pt} nack`);
    }
    return lines.join(eol);
  }).join('');
}

export const ICE_WARN_MS = 10000; // ICE not connected this long after the answer: say so
export const ICE_RETRY_MS = 25000; // ... and this long: a new peer connection
const STABLE_MS = 10000; // connected this long: the back-off starts again from its first step
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 15000;

// Delay before the n-th consecutive retry (n >= 1): 1 s, 2 s, 4 s, ... capped, ±25 % jitter.
export function backoffDelay(n, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, n - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

export class MediaSession {
  constructor(socket, {
    thumbnails = 4, maxBitrate = 2500000, simulcast = false, onSlots, onState, onStats, onScreenEnded,
    publishContent = true, receiveContent = true,
  } = {}) {
    this.socket = socket;
    this.simulcast = simulcast && simulcastCapable();
    this.publishLayers = null; // the SFU's last publish_layers for this connection
    this.pubSender = null;
    this.publishContent = publishContent;
    this.receiveContent = receiveContent;
    this.screen = null; // the shared screen's track while sharing
    this.contentSender = null;
    this.onScreenEnded = onScreenEnded || (() => {});
    this.thumbnails = thumbnails;
    this.maxBitrate = maxBitrate;
    this.onSlots = onSlots || (() => {});
    this.onState = onState || (() => {});
    this.onStats = onStats || (() => {});
    this.local = null;
    this.pc = null;
    this.generation = 0;
    this.wanted = false;
    this.state = 'idle';
    this.slots = {};
    this.midToSlot = {};
    this.stats = { rtt: null, loss: null, inKbps: null, outKbps: null, quality: 'unknown', mids: {} };
    this._prev = null;
    this._statsTimer = setInterval(() => this._pollStats(), 2000);
    this._disconnectTimer = null;
    this._iceTimers = [];
    this._stableTimer = null;
    this.failures = 0; // consecutive failed attempts (reset after STABLE_MS connected)
    this.restarts = 0; // peer connections replaced after a failure (for tests and the page)
  }

  setLocalStream(stream) { this.local = stream; }

  _setState(state, detail) {
    this.state = state;
    this.onState(state, detail);
  }

  // Join (or re-join) the media room; safe to call repeatedly: the newest call wins.
  // `wait` (ms) delays the first offer: the back-off after a failure.
  async start(reason = 'start', { wait = 0 } = {}) {
    this.wanted = true;
    const gen = ++this.generation;
    this._closePc();
    if (wait > 0) {
      this._setState('retrying', { reason, wait });
      await sleep(wait);
      if (gen !== this.generation || !this.wanted) return;
    }
    let delay = 1000;
    for (let attempt = 1; this.wanted && gen === this.generation; attempt++) {
      this._setState('connecting', { reason, attempt });
      let reply;
      try {
        reply = await this._offerOnce(gen);
      } catch (err) {
        reply = { type: 'error', code: 'client_error', message: String(err) };
      }
      if (gen !== this.generation || !this.wanted) return;
      if (reply && reply.type === 'answer') return;
      const code = reply ? reply.code : 'unknown';
      this._setState('waiting', { code, message: reply && reply.message });
      if (code === 'not_live') { this._closePc(); return; }
      this._closePc();
      await sleep(delay + Math.random() * 300);
      delay = Math.min(delay * 2, 8000);
    }
  }

  stop() {
    this.wanted = false;
    this.generation++;
    this._closePc();
    this.failures = 0;
    this._setState('idle');
  }

  // A failure of the current attempt: a new peer connection after the back-off.
  _retry(reason) {
    this.failures += 1;
    this.restarts += 1;
    this.start(reason, { wait: backoffDelay(this.failures) });
  }

  _clearTimers() {
    clearTimeout(this._disconnectTimer);
    clearTimeout(this._stableTimer);
    this._iceTimers.forEach(clearTimeout);
    this._iceTimers = [];
  }

  _closePc() {
    this._clearTimers();
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      pc.onconnectionstatechange = null;
      try { pc.close(); } catch { /* already closed */ }
    }
  }

  async _offerOnce(gen) {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.pc = pc;
    const video = this.local ? this.local.getVideoTracks()[0] : null;
    const audio = this.local ? this.local.getAudioTracks()[0] : null;
    const encodings = video && this.simulcast
      ? LAYERS.map((l) => ({ ...l, maxBitrate: l.maxBitrate || this.maxBitrate }))
      : [{ maxBitrate: this.maxBitrate }];
    const pubVideo = pc.addTransceiver(video || 'video', {
      direction: video ? 'sendonly' : 'inactive',
      streams: this.local && video ? [this.local] : [],
      sendEncodings: encodings,
    });
    this.publishLayers = null; // a new connection starts with every layer on
    this.pubSender = pubVideo.sender;
    pc.addTransceiver(audio || 'audio', { direction: audio ? 'sendonly' : 'inactive', streams: this.local && audio ? [this.local] : [] });
    this._preferResolution(pubVideo.sender);
    const receivers = [];
    for (const [slot, kind] of SLOT_LINES(this.thumbnails)) {
      receivers.push([slot, kind, pc.addTransceiver(kind, { direction: 'recvonly' })]);
    }
    const content = pc.addTransceiver(this.screen || 'video', {
      direction: this.publishContent ? 'sendonly' : 'inactive',
      sendEncodings: [{ maxBitrate: Math.min(this.maxBitrate, 2500000), maxFramerate: 15 }],
    });
    this.contentSender = content.sender;
    receivers.push(['content', 'video', pc.addTransceiver('video', { direction: this.receiveContent ? 'recvonly' : 'inactive' })]);
    pc.onconnectionstatechange = () => this._pcState(pc, gen);
    const offer = await pc.createOffer();
    try {
      await pc.setLocalDescription({ type: 'offer', sdp: offerOpusNack(offer.sdp) });
    } catch {
      await pc.setLocalDescription(offer); // a browser refusing the munged offer: no audio NACK
    }
    await this._gathered(pc);
    if (gen !== this.generation) return { type: 'error', code: 'superseded' };
    // no answer within 10 s (a media worker died mid-offer): offer again (docs/protocol.md)
    const reply = await this.socket.request({ type: 'offer', sdp: pc.localDescription.sdp, content: true }, 10000);
    if (gen !== this.generation) return { type: 'error', code: 'superseded' };
    if (reply.type !== 'answer') return reply;
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
    this._preferResolution(pubVideo.sender);
    if (this.publishLayers) this.setPublishLayers(this.publishLayers);
    if (this.screen) this._contentParameters();
    // slot streams: one MediaStream per slot with its video (and audio) track
    const slots = {};
    this.midToSlot = {};
    const midOf = {};
    for (const [name, info] of Object.entries(reply.slots || {})) {
      if (info.video_mid !== undefined) midOf[info.video_mid] = [name, 'video'];
      if (info.audio_mid !== undefined) midOf[info.audio_mid] = [name, 'audio'];
    }
    this.receivers = [];
    for (const [slot, kind, transceiver] of receivers) {
      const [name] = midOf[transceiver.mid] || [slot, kind];
      this.midToSlot[transceiver.mid] = `${name}/${kind}`;
      this.receivers.push({ key: `${name}/${kind}`, receiver: transceiver.receiver });
      slots[name] = slots[name] || new MediaStream();
      slots[name].addTrack(transceiver.receiver.track);
    }
    this.slots = slots;
    this.publish = reply.publish || {};
    this.onSlots(slots);
    this._setState('negotiated');
    this._armIceTimers(pc, gen);
    return reply;
  }

  // Ask the browser for a screen or a window and publish it on the content line. Returns the
  // track; throws what getDisplayMedia throws (NotAllowedError when the user cancels).
  async shareScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { max: 15 } }, audio: false,
    });
    const track = stream.getVideoTracks()[0];
    track.contentHint = 'detail'; // text and slides: sharp rather than smooth
    // "Dừng chia sẻ" in the browser's own bar ends the track: stop cleanly from there too
    track.addEventListener('ended', () => { if (this.screen === track) { this.stopScreen(); this.onScreenEnded(); } });
    this.screen = track;
    if (this.contentSender) {
      await this.contentSender.replaceTrack(track);
      this._contentParameters();
    }
    return track;
  }

  stopScreen() {
    const track = this.screen;
    this.screen = null;
    if (this.contentSender) this.contentSender.replaceTrack(null).catch(() => {});
    if (track) track.stop();
  }

  _contentParameters() {
    try {
      const params = this.contentSender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      if (params.encodings && params.encodings.length) {
        params.encodings[0].maxFramerate = 15;
        params.encodings[0].maxBitrate = Math.min(this.maxBitrate, 2500000);
      }
      this.contentSender.setParameters(params).catch(() => {});
    } catch { /* before negotiation */ }
  }

  _preferResolution(sender) {
    try {
      const params = sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      for (const e of params.encodings || []) {
        if (!e.rid || e.rid === 'h') e.maxBitrate = this.maxBitrate; // the top (or only) layer
      }
      sender.setParameters(params).catch(() => {});
    } catch { /* not supported before negotiation in some browsers */ }
  }

  // The SFU's `publish_layers` event: {rid: watched}. Unwatched layers are paused
  // (`active: false`); a site that nobody sees sends no video at all.
  setPublishLayers(layers) {
    this.publishLayers = { ...layers };
    const sender = this.pubSender;
    if (!sender || !this.pc || this.pc.signalingState !== 'stable') return;
    try {
      const params = sender.getParameters();
      let changed = false;
      for (const e of params.encodings || []) {
        if (e.rid && e.rid in layers && e.active !== !!layers[e.rid]) { e.active = !!layers[e.rid]; changed = true; }
      }
      if (changed) sender.setParameters(params).catch(() => {});
    } catch { /* the sender is gone (a new connection is being made) */ }
  }

  _gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(done, 4000);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // After the answer: ICE must connect. Say so after ICE_WARN_MS, try anew after ICE_RETRY_MS.
  _armIceTimers(pc, gen) {
    const current = () => pc === this.pc && gen === this.generation && pc.connectionState !== 'connected';
    this._iceTimers.push(setTimeout(() => { if (current()) this._setState('stuck', { after: ICE_WARN_MS }); }, ICE_WARN_MS));
    this._iceTimers.push(setTimeout(() => { if (current()) this._retry('ice_timeout'); }, ICE_RETRY_MS));
  }

  _pcState(pc, gen) {
    if (pc !== this.pc || gen !== this.generation) return;
    const s = pc.connectionState;
    clearTimeout(this._disconnectTimer);
    if (s === 'connected') {
      this._iceTimers.forEach(clearTimeout);
      this._iceTimers = [];
      this._setState('connected');
      clearTimeout(this._stableTimer);
      this._stableTimer = setTimeout(() => { if (this.pc === pc) this.failures = 0; }, STABLE_MS);
    } else if (s === 'failed') {
      this._setState('failed');
      this._retry('failed'); // bounded: never a tight loop of new connections
    } else if (s === 'disconnected') {
      this._setState('disconnected');
      clearTimeout(this._stableTimer);
      this._disconnectTimer = setTimeout(() => {
        if (this.pc === pc && pc.connectionState !== 'connected') this._retry('disconnected');
      }, 3000);
    }
  }

  // Inbound RTP per slot ("main/video", "chair/audio", …), asked of each receiver: Firefox's
  // inbound-rtp stats carry no `mid`, so the report of the whole connection cannot be mapped.
  async slotStats() {
    const out = {};
    const pc = this.pc;
    for (const { key, receiver } of this.receivers || []) {
      let report;
      try { report = await receiver.getStats(); } catch { continue; }
      if (pc !== this.pc) return {};
      report.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        out[key] = {
          kind: r.kind, bytes: r.bytesReceived || 0, packets: r.packetsReceived || 0,
          frames: r.framesDecoded || 0, width: r.frameWidth || 0, height: r.frameHeight || 0,
        };
      });
    }
    return out;
  }

  async _pollStats() {
    const pc = this.pc;
    if (!pc) return;
    let report;
    try { report = await pc.getStats(); } catch { return; }
    const now = performance.now();
    let rtt = null; let bytesIn = 0; let bytesOut = 0; let lost = 0; let received = 0;
    const mids = await this.slotStats();
    report.forEach((r) => {
      if (r.type === 'candidate-pair' && (r.nominated || r.selected) && r.state === 'succeeded' && r.currentRoundTripTime !== undefined) rtt = r.currentRoundTripTime;
      if (r.type === 'inbound-rtp') {
        bytesIn += r.bytesReceived || 0;
        lost += Math.max(0, r.packetsLost || 0);
        received += r.packetsReceived || 0;
      }
      if (r.type === 'outbound-rtp') bytesOut += r.bytesSent || 0;
    });
    const prev = this._prev;
    this._prev = { now, bytesIn, bytesOut, lost, received };
    const stats = { rtt, mids, inKbps: null, outKbps: null, loss: null };
    if (prev) {
      const secs = (now - prev.now) / 1000;
      stats.inKbps = Math.round(((bytesIn - prev.bytesIn) * 8) / 1000 / secs);
      stats.outKbps = Math.round(((bytesOut - prev.bytesOut) * 8) / 1000 / secs);
      const dl = lost - prev.lost; const dr = received - prev.received;
      stats.loss = dl + dr > 0 ? dl / (dl + dr) : 0;
    }
    let quality = 'unknown';
    if (this.state === 'connected') {
      quality = 'good';
      if ((stats.loss ?? 0) > 0.02 || (rtt ?? 0) > 0.3) quality = 'fair';
      if ((stats.loss ?? 0) > 0.08 || (rtt ?? 0) > 0.8) quality = 'poor';
    }
    stats.quality = quality;
    this.stats = stats;
    this.onStats(stats);
  }
}

// Camera + microphone with the chosen devices; returns {stream, error}. Falls back to audio
// only or video only when one kind is missing, so a participant can still join.
export async function openDevices({ videoId = '', audioId = '', video = true, audio = true } = {}) {
  const want = {
    video: video ? { deviceId: videoId ? { exact: videoId } : undefined, width: { ideal: 1280 }, height: { ideal: 720 } } : false,
    audio: audio ? { deviceId: audioId ? { exact: audioId } : undefined, echoCancellation: true, noiseSuppression: true } : false,
  };
  if (!want.video && !want.audio) return { stream: null, error: null };
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return { stream: null, error: { name: 'NotSupportedError' } };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia(want), error: null };
  } catch (err) {
    if (err.name === 'NotFoundError' || err.name === 'OverconstrainedError' || err.name === 'NotReadableError') {
      for (const only of [{ video: false, audio: want.audio }, { video: want.video, audio: false }]) {
        if (!only.video && !only.audio) continue;
        try { return { stream: await navigator.mediaDevices.getUserMedia(only), error: err }; } catch { /* try the next */ }
      }
    }
    return { stream: null, error: err };
  }
}

export const DEVICE_MESSAGES = {
  NotAllowedError: _('Trình duyệt chưa cho phép dùng camera và micro. Hãy bấm biểu tượng ổ khoá cạnh địa chỉ trang, chọn “Cho phép” rồi tải lại trang. Bạn vẫn có thể vào hội nghị để xem và nghe.'),
  SecurityError: _('Trình duyệt chặn camera và micro trên trang này (cần HTTPS hoặc được cho phép). Bạn vẫn có thể vào hội nghị để xem và nghe.'),
  NotFoundError: _('Không tìm thấy camera hoặc micro. Hãy cắm thiết bị rồi bấm “Kiểm tra lại”. Bạn vẫn có thể vào hội nghị để xem và nghe.'),
  NotReadableError: _('Camera hoặc micro đang được ứng dụng khác sử dụng. Hãy đóng ứng dụng đó rồi bấm “Kiểm tra lại”.'),
  OverconstrainedError: _('Thiết bị đã chọn không còn nữa. Hãy chọn thiết bị khác.'),
  NotSupportedError: _('Trình duyệt này không hỗ trợ camera và micro. Hãy dùng Chrome, Edge hoặc Firefox bản mới.'),
};
