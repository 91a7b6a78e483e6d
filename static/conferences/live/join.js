// The participant's page: pre-join check, then the conference.
import { $, Live } from './conference.js';
import { PreJoin } from './prejoin.js';
import { _, fmt } from './i18n.js';

const config = JSON.parse(document.getElementById('live-config').textContent);
const prejoin = new PreJoin($('#prejoin'));
let live = null;

function renderControls(s) {
  const me = s.me || {};
  const handBtn = $('[data-action=hand]');
  const raised = s.hands.includes(me.site);
  const isChairSite = s.conference.chair_site === me.site;
  handBtn.hidden = isChairSite;
  handBtn.textContent = raised ? _('Hạ tay') : _('Giơ tay xin phát biểu');
  handBtn.classList.toggle('active', raised);
  const pos = s.hands.indexOf(me.site);
  $('[data-role=hand-state]').textContent = raised ? fmt(_('Đang chờ phát biểu (thứ %(n)s)'), { n: pos + 1 }) : (s.floor === me.site ? _('Bạn đang được phát biểu') : '');
  const form = $('#rollcall-form');
  const answered = s.rollcall && Object.prototype.hasOwnProperty.call(s.rollcall.answers, me.site);
  form.hidden = !s.rollcall || answered || !(me.site in s.sites);
  $('[data-role=rollcall-done]').hidden = !answered;
  if (answered) $('[data-role=rollcall-done]').textContent = fmt(_('Đã báo cáo quân số: %(n)s người.'), { n: s.rollcall.answers[me.site] });
  $('[data-role=ended]').hidden = s.conference.status !== 'ended';
  $('[data-role=not-started]').hidden = s.conference.status === 'live' || s.conference.status === 'ended';
}

function setTrackEnabled(kind, button, onText, offText) {
  const stream = live && live.local;
  const track = stream && stream.getTracks().find((t) => t.kind === kind);
  if (!track) { live.flash(kind === 'audio' ? _('Không có micro.') : _('Không có camera.'), 'warn'); return; }
  track.enabled = !track.enabled;
  button.textContent = track.enabled ? onText : offText;
  button.classList.toggle('off', !track.enabled);
  document.body.dataset[kind === 'audio' ? 'localMic' : 'localCam'] = track.enabled ? 'on' : 'off';
}

$('[data-action=join]').addEventListener('click', () => {
  const stream = prejoin.take();
  $('#prejoin').hidden = true;
  $('#room').hidden = false;
  document.body.classList.add('in-room');
  live = new Live(config, { onRender: renderControls });
  live.start(stream);
});

document.addEventListener('click', (e) => {
  const action = e.target.closest('[data-action]');
  if (!action || !live) return;
  const s = live.state;
  switch (action.dataset.action) {
    case 'hand':
      if (s) live.send({ type: s.hands.includes(s.me.site) ? 'hand.lower' : 'hand.raise' });
      break;
    case 'mic': setTrackEnabled('audio', action, _('Tắt micro'), _('Bật micro')); break;
    case 'cam': setTrackEnabled('video', action, _('Tắt camera'), _('Bật camera')); break;
    default: break;
  }
});

$('#rollcall-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('#headcount');
  const value = Number.parseInt(input.value, 10);
  if (!Number.isInteger(value) || value < 1 || value > 10000) {
    live.flash(_('Quân số phải là số nguyên từ 1 đến 10000.'), 'bad');
    input.focus();
    return;
  }
  const reply = await live.send({ type: 'rollcall.answer', headcount: value });
  if (reply.type === 'ack') live.flash(fmt(_('Đã gửi quân số: %(n)s người.'), { n: value }));
});

const siteSelect = $('[data-submit-on-change]');
if (siteSelect) siteSelect.addEventListener('change', () => siteSelect.form.submit());

prejoin.open();
document.body.dataset.page = 'join';
