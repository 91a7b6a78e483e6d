// The participant's page: pre-join check, then the room. The controls (mic, camera, hand,
// leave) sit in a dock fixed to the bottom of the window, so they are visible without
// scrolling on a PC, a tablet and a phone; an open roll call is asked in the same dock, above
// the controls, never under them.
import { $, Live } from './conference.js';
import { PreJoin } from './prejoin.js';
import { ChatPanel } from './chat.js';
import { storedNoContent, storeNoContent } from './content.js';
import { _, fmt } from './i18n.js';

const config = JSON.parse(document.getElementById('live-config').textContent);
const prejoin = new PreJoin($('#prejoin'));
let live = null;
let chat = null;
let askedRollcall = null;

function renderControls(s) {
  const me = s.me || {};
  const ended = live.ended;
  const gone = ended || live.left;
  const handBtn = $('[data-action=hand]');
  const raised = s.hands.includes(me.site);
  const isChairSite = s.conference.chair_site === me.site;
  handBtn.hidden = isChairSite || gone || s.conference.status !== 'live';
  handBtn.textContent = raised ? _('Hạ tay') : _('Giơ tay xin phát biểu');
  handBtn.classList.toggle('active', raised);
  for (const name of ['mic', 'cam']) $(`[data-action=${name}]`).hidden = gone;
  const leave = $('[data-action=leave]');
  leave.hidden = live.left;
  leave.textContent = ended ? _('Về trang chủ') : _('Rời phòng họp');
  leave.classList.toggle('danger', !ended);
  leave.classList.toggle('primary', ended);
  const pos = s.hands.indexOf(me.site);
  let handText = '';
  if (!gone) handText = raised ? fmt(_('Đang chờ phát biểu (thứ %(n)s)'), { n: pos + 1 }) : (s.floor === me.site ? _('Bạn đang được phát biểu') : '');
  $('[data-role=hand-state]').textContent = handText;
  const form = $('#rollcall-form');
  const answered = s.rollcall && Object.prototype.hasOwnProperty.call(s.rollcall.answers, me.site);
  form.hidden = gone || !s.rollcall || answered || !(me.site in s.sites);
  if (!form.hidden && askedRollcall !== s.rollcall.id) {
    askedRollcall = s.rollcall.id;
    $('#headcount').focus({ preventScroll: true });
  }
  $('[data-role=rollcall-done]').hidden = gone || !answered;
  if (answered) $('[data-role=rollcall-done]').textContent = fmt(_('Đã báo cáo quân số: %(n)s người.'), { n: s.rollcall.answers[me.site] });
  $('[data-role=not-started]').hidden = gone || s.conference.status === 'live';
  chat.render(s);
  dockSpace();
}

// Keep the page's end clear of the fixed dock, whatever it holds now, and tell the CSS where
// the room starts (a wide screen fits the room between the head and the dock).
function dockSpace() {
  const root = document.documentElement.style;
  const dock = $('.dock');
  if (dock) root.setProperty('--dock-height', `${Math.ceil(dock.getBoundingClientRect().height)}px`);
  const room = $('#room');
  if (room && !room.hidden) root.setProperty('--room-top', `${Math.ceil(room.getBoundingClientRect().top + window.scrollY)}px`);
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
  live = new Live(config, { onRender: renderControls, contentChoice: true, noContent: noContent.checked });
  chat = new ChatPanel($('#chat'), live, { maxChars: config.chat_max_chars });
  live.start(stream);
  dockSpace();
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
    case 'leave':
      if (live.ended) { window.location.assign('/'); break; }
      live.leave();
      break;
    case 'retake': live.retake(); break;
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

// "Không nhận video trình chiếu màn hình": kept for the next visit (content.js)
const noContent = $('[data-role=no-content]');
noContent.checked = storedNoContent();
noContent.addEventListener('change', () => storeNoContent(noContent.checked));

const siteSelect = $('[data-submit-on-change]');
if (siteSelect) siteSelect.addEventListener('change', () => siteSelect.form.submit());
window.addEventListener('resize', dockSpace);

prejoin.open();
document.body.dataset.page = 'join';
