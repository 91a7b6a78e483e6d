// The observer's page: watch main, content and audio without a site (docs/protocol.md §1). No
// camera or microphone is opened and the offer publishes nothing; there is no hand, no roll
// call, no chair control. A browser that blocks sound until a click gets "Bật âm thanh".
import { $, Live } from './conference.js';
import { ChatPanel } from './chat.js';
import { _, fmt } from './i18n.js';

const config = JSON.parse(document.getElementById('live-config').textContent);

function dockSpace() {
  const root = document.documentElement.style;
  const dock = $('.dock');
  if (dock) root.setProperty('--dock-height', `${Math.ceil(dock.getBoundingClientRect().height)}px`);
  const room = $('#room');
  if (room) root.setProperty('--room-top', `${Math.ceil(room.getBoundingClientRect().top + window.scrollY)}px`);
}

function render(s) {
  const gone = live.ended || live.left;
  const leave = $('[data-action=leave]');
  leave.hidden = live.left;
  leave.textContent = live.ended ? _('Về trang chủ') : _('Thôi theo dõi');
  leave.classList.toggle('danger', !live.ended);
  leave.classList.toggle('primary', live.ended);
  $('[data-role=not-started]').hidden = gone || s.conference.status === 'live';
  const n = s.observers || 0;
  $('[data-role=observer-count]').textContent = gone || !n ? '' : fmt(_('%(n)s người theo dõi'), { n });
  const blocked = [...document.querySelectorAll('video')].some((v) => v.srcObject && !v.muted && v.paused);
  $('[data-action=sound]').hidden = gone || !blocked;
  chat.render(s);
  dockSpace();
}

// A browser that was never allowed a camera or microphone on this portal offers no address
// but the default route's (none at all on a loopback-only or offline machine): the SFU answers
// `no_candidates`. Then ask once for the microphone and let it go at once — nothing is sent
// (the offer stays receive-only), but the browser now offers this machine's addresses.
let askedPermission = false;
async function unlockAddresses() {
  if (askedPermission || !navigator.mediaDevices) return;
  askedPermission = true;
  live.flash(_('Trình duyệt xin quyền micro chỉ để mở đường truyền: trang theo dõi không gửi tiếng hay hình.'), 'warn');
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((t) => t.stop());
  } catch { return; }
  live.media.start('permission');
}

const live = new Live(config, {
  onRender: render,
  onMedia: (s, detail) => { if (s === 'waiting' && detail && detail.code === 'no_candidates') unlockAddresses(); },
});
const chat = new ChatPanel($('#chat'), live, { maxChars: config.chat_max_chars });

document.addEventListener('click', (e) => {
  const action = e.target.closest('[data-action]');
  if (!action) return;
  if (action.dataset.action === 'leave') {
    if (live.ended) window.location.assign('/');
    else live.leave();
  }
  if (action.dataset.action === 'sound') {
    for (const v of document.querySelectorAll('video')) if (v.srcObject) v.play().catch(() => {});
    live.render();
  }
});
window.addEventListener('resize', dockSpace);
document.body.dataset.page = 'watch';
live.start(null);
dockSpace();
