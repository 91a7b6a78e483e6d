// Pre-join check: choose camera and microphone, preview, microphone level meter, and clear
// messages when permission is denied or no device exists.
import { DEVICE_MESSAGES, openDevices } from './media.js';
import { _, fmt } from './i18n.js';

export class PreJoin {
  constructor(root) {
    this.root = root;
    this.video = root.querySelector('[data-role=preview]');
    this.cameraSelect = root.querySelector('[data-role=camera]');
    this.micSelect = root.querySelector('[data-role=mic]');
    this.meter = root.querySelector('[data-role=meter]');
    this.message = root.querySelector('[data-role=device-message]');
    this.stream = null;
    this.audioCtx = null;
    this.raf = null;
    this.cameraSelect.addEventListener('change', () => this.open());
    this.micSelect.addEventListener('change', () => this.open());
    const retry = root.querySelector('[data-role=retry]');
    if (retry) retry.addEventListener('click', () => this.open());
  }

  async open() {
    this._stopStream();
    this._say('', '');
    const { stream, error } = await openDevices({ videoId: this.cameraSelect.value, audioId: this.micSelect.value });
    this.stream = stream;
    await this._listDevices();
    if (error) this._say(DEVICE_MESSAGES[error.name] || fmt(_('Không mở được camera/micro (%(error)s).'), { error: error.name || error }), 'warn');
    if (stream && !stream.getVideoTracks().length) this._say(_('Không có camera: điểm cầu sẽ chỉ gửi âm thanh.'), 'warn');
    if (stream && !stream.getAudioTracks().length) this._say(_('Không có micro: điểm cầu sẽ chỉ gửi hình ảnh.'), 'warn');
    this.video.srcObject = stream;
    this._meter(stream);
    document.body.dataset.devices = stream ? 'ok' : (error ? error.name : 'none');
    return stream;
  }

  async _listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, none) => {
      const current = this.stream && this.stream.getTracks().find((t) => t.kind === (kind === 'videoinput' ? 'video' : 'audio'));
      const currentId = current && current.getSettings ? current.getSettings().deviceId : select.value;
      const list = devices.filter((d) => d.kind === kind);
      select.replaceChildren();
      if (!list.length) select.append(new Option(none, ''));
      list.forEach((d, i) => select.append(new Option(d.label || fmt(kind === 'videoinput' ? _('Camera %(n)s') : _('Micro %(n)s'), { n: i + 1 }), d.deviceId)));
      if (currentId) select.value = currentId;
    };
    fill(this.cameraSelect, 'videoinput', _('Không có camera'));
    fill(this.micSelect, 'audioinput', _('Không có micro'));
  }

  _meter(stream) {
    const bar = this.meter;
    if (!bar) return;
    bar.style.setProperty('--level', '0');
    if (!stream || !stream.getAudioTracks().length) return;
    try {
      this.audioCtx = new AudioContext();
      const source = this.audioCtx.createMediaStreamSource(stream);
      const analyser = this.audioCtx.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      const data = new Uint8Array(analyser.fftSize);
      const tick = () => {
        analyser.getByteTimeDomainData(data);
        let peak = 0;
        for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
        const level = Math.min(1, peak / 64);
        bar.style.setProperty('--level', level.toFixed(2));
        bar.dataset.level = level.toFixed(2);
        this.raf = requestAnimationFrame(tick);
      };
      tick();
    } catch { /* no WebAudio: no meter */ }
  }

  _say(text, kind) {
    this.message.textContent = text;
    this.message.className = text ? `notice ${kind}` : 'notice';
    this.message.hidden = !text;
  }

  _stopStream() {
    cancelAnimationFrame(this.raf);
    if (this.audioCtx) { this.audioCtx.close().catch(() => {}); this.audioCtx = null; }
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
  }

  // Hand the stream over to the conference (the preview keeps showing it as self view).
  take() {
    cancelAnimationFrame(this.raf);
    if (this.audioCtx) { this.audioCtx.close().catch(() => {}); this.audioCtx = null; }
    const s = this.stream;
    this.stream = null;
    return s;
  }
}
