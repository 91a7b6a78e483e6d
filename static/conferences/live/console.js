// The chair console: floor queue, a grid of every invited site coloured by state (usable at
// 210+: one element per site, updated in place; filter with diacritic-insensitive search),
// and the live controls. The chair's own media runs here too (same socket as the join page
// would use: one connection per site).
import { $, Live, siteName } from './conference.js';
import { openDevices } from './media.js';
import { fold } from './protocol.js';
import { _, fmt } from './i18n.js';

const config = JSON.parse(document.getElementById('live-config').textContent);
const STATES = {
  offline: _('Chưa kết nối'), online: _('Đã kết nối'), novideo: _('Không có hình'), answered: _('Đã điểm danh'), counted: _('Đã có quân số'),
};
const grid = $('#site-grid');
const tiles = new Map();
let filterText = '';
let filterState = '';
let selected = null;

function siteState(s, code) {
  const site = s.sites[code];
  if (s.rollcall && Object.prototype.hasOwnProperty.call(s.rollcall.answers, code)) return 'answered';
  if (!site.connected) return 'offline';
  if (site.headcount !== null && site.headcount !== undefined) return 'counted';
  if (!site.video) return 'novideo';
  return 'online';
}

function buildGrid(s) {
  grid.replaceChildren();
  tiles.clear();
  const frag = document.createDocumentFragment();
  for (const code of s.site_order) {
    const site = s.sites[code];
    const tile = document.createElement('button');
    tile.type = 'button';
    tile.className = 'site-tile';
    tile.dataset.code = code;
    tile.dataset.search = fold(`${site.name} ${site.unit} ${site.key}`);
    tile.title = `${site.name} — ${site.unit}`;
    const name = document.createElement('span');
    name.className = 'tn';
    name.textContent = site.name;
    const marks = document.createElement('span');
    marks.className = 'tm';
    tile.append(name, marks);
    frag.append(tile);
    tiles.set(code, { tile, marks });
  }
  grid.append(frag);
}

function renderGrid(s) {
  if (tiles.size !== s.site_order.length || s.site_order.some((c) => !tiles.has(c))) buildGrid(s);
  const counts = { offline: 0, online: 0, novideo: 0, answered: 0, counted: 0 };
  const main = s.broadcast || s.floor;
  let shown = 0;
  for (const code of s.site_order) {
    const { tile, marks } = tiles.get(code);
    const site = s.sites[code];
    const state = siteState(s, code);
    counts[state] += 1;
    if (tile.dataset.state !== state) { tile.dataset.state = state; }
    // plain text marks: the closed network's PCs may have no emoji font
    const flags = [];
    if (site.chair) flags.push(_('★ chủ trì'));
    if (code === main) flags.push(_('▶ phát biểu'));
    if (s.hands.includes(code)) flags.push(fmt(_('tay #%(n)s'), { n: s.hands.indexOf(code) + 1 }));
    if (s.muted.includes(code)) flags.push(_('tắt tiếng'));
    const hc = s.rollcall && s.rollcall.answers[code] !== undefined ? s.rollcall.answers[code] : site.headcount;
    if (hc !== null && hc !== undefined) flags.push(fmt(_('%(n)s người'), { n: hc }));
    const markText = flags.join(' · ');
    if (marks.textContent !== markText) marks.textContent = markText;
    tile.classList.toggle('is-main', code === main);
    tile.classList.toggle('is-selected', code === selected);
    const visible = (!filterText || tile.dataset.search.includes(filterText)) && (!filterState || state === filterState);
    tile.hidden = !visible;
    if (visible) shown += 1;
  }
  for (const [state, n] of Object.entries(counts)) {
    const chip = $(`[data-filter-state=${state}] .count`);
    if (chip) chip.textContent = n;
  }
  const all = $('[data-filter-state=""] .count');
  if (all) all.textContent = s.site_order.length;
  $('[data-role=shown]').textContent = fmt(_('Hiển thị %(shown)s/%(total)s'), { shown, total: s.site_order.length });
}

function renderQueue(s) {
  const list = $('#hand-queue');
  list.replaceChildren();
  for (const code of s.hands) {
    const li = document.createElement('li');
    li.dataset.code = code;
    const name = document.createElement('span');
    name.textContent = siteName(s, code);
    li.append(name);
    if (s.me && s.me.chair) {
      const give = Object.assign(document.createElement('button'), { type: 'button', className: 'btn small primary', textContent: _('Cho phát biểu') });
      give.dataset.action = 'floor.give';
      give.dataset.site = code;
      const lower = Object.assign(document.createElement('button'), { type: 'button', className: 'btn small', textContent: _('Hạ tay') });
      lower.dataset.action = 'hand.lower';
      lower.dataset.site = code;
      li.append(give, lower);
    }
    list.append(li);
  }
  $('[data-role=queue-empty]').hidden = s.hands.length > 0;
}

function renderSelected(s) {
  const box = $('#selected-site');
  if (!box) return;
  if (!selected || !s.sites[selected]) { box.hidden = true; return; }
  const site = s.sites[selected];
  box.hidden = false;
  $('[data-role=selected-name]').textContent = `${site.name} (${site.unit})`;
  const facts = [site.connected ? _('đã kết nối') : _('chưa kết nối'), site.video ? _('có hình') : _('không có hình'), site.audio ? _('có tiếng') : _('không có tiếng')];
  if (site.headcount !== null && site.headcount !== undefined) facts.push(fmt(_('quân số %(n)s'), { n: site.headcount }));
  $('[data-role=selected-facts]').textContent = facts.join(' · ');
  const muted = s.muted.includes(selected);
  const muteBtn = $('[data-action="mute.set"]', box);
  if (muteBtn) { muteBtn.textContent = muted ? _('Bật tiếng') : _('Tắt tiếng'); muteBtn.dataset.muted = muted ? 'false' : 'true'; }
  const bc = $('[data-action="broadcast.set"]', box);
  if (bc) bc.textContent = s.broadcast === selected ? _('Thôi phát') : _('Phát điểm cầu này');
}

function renderControls(s) {
  const status = s.conference.status;
  const show = (sel, on) => { const el = $(sel); if (el) el.hidden = !on; };
  show('[data-action=start]', status === 'scheduled');
  show('[data-action=end]', status === 'live');
  show('[data-action="rollcall.start"]', !s.rollcall);
  show('[data-action="rollcall.end"]', !!s.rollcall);
  const board = $('[data-role=rollcall-board]');
  if (s.rollcall) {
    const answers = Object.values(s.rollcall.answers);
    const total = answers.reduce((a, b) => a + b, 0);
    const invited = s.site_order.length;
    board.textContent = fmt(_('Đang điểm danh: %(answered)s/%(invited)s điểm cầu đã báo cáo, tổng %(total)s người.'), { answered: answers.length, invited, total });
  } else {
    board.textContent = _('Chưa mở điểm danh.');
  }
  const select = $('#agenda-select');
  if (select && select.options.length !== s.agenda.length + 1) {
    select.replaceChildren(new Option(_('— Chọn nội dung —'), ''));
    for (const a of s.agenda) select.append(new Option(`${a.position}. ${a.title}`, String(a.id)));
  }
  if (select) select.value = s.current_item ? String(s.current_item) : '';
  const connected = s.site_order.filter((c) => s.sites[c].connected).length;
  $('[data-role=connected-count]').textContent = fmt(_('%(connected)s/%(total)s điểm cầu đã kết nối'), { connected, total: s.site_order.length });
}

function render(s) {
  renderGrid(s);
  renderQueue(s);
  renderSelected(s);
  renderControls(s);
}

const live = new Live(config, { onRender: render });

function agendaStep(delta) {
  const s = live.state;
  if (!s || !s.agenda.length) return;
  const i = s.agenda.findIndex((a) => a.id === s.current_item);
  const next = i < 0 ? (delta > 0 ? 0 : s.agenda.length - 1) : Math.max(0, Math.min(s.agenda.length - 1, i + delta));
  live.send({ type: 'agenda.goto', item: s.agenda[next].id });
}

document.addEventListener('click', async (e) => {
  const tile = e.target.closest('.site-tile');
  if (tile) {
    selected = tile.dataset.code === selected ? null : tile.dataset.code;
    live.render();
    return;
  }
  const filterChip = e.target.closest('[data-filter-state]');
  if (filterChip) {
    filterState = filterChip.dataset.filterState;
    document.querySelectorAll('[data-filter-state]').forEach((c) => c.classList.toggle('active', c === filterChip));
    live.render();
    return;
  }
  const el = e.target.closest('[data-action]');
  if (!el) return;
  const s = live.state;
  const site = el.dataset.site || selected;
  const type = el.dataset.action;
  switch (type) {
    case 'start':
    case 'end':
      if (type === 'end' && !window.confirm(_('Kết thúc hội nghị cho tất cả các điểm cầu?'))) return;
      live.send({ type });
      break;
    case 'floor.give': if (site) live.send({ type, site }); break;
    case 'floor.clear': live.send({ type }); break;
    case 'broadcast.set': if (site) live.send({ type, site: s.broadcast === site ? null : site }); break;
    case 'mute.set': if (site) live.send({ type, site, muted: !s.muted.includes(site) }); break;
    case 'mute.all': live.send({ type, muted: el.dataset.muted !== 'false' }); break;
    case 'hand.lower': live.send({ type, site }); break;
    case 'agenda.prev': agendaStep(-1); break;
    case 'agenda.next': agendaStep(1); break;
    case 'rollcall.start': case 'rollcall.end': case 'absent.call': live.send({ type }); break;
    default: break;
  }
});

$('#agenda-select').addEventListener('change', (e) => {
  if (e.target.value) live.send({ type: 'agenda.goto', item: Number(e.target.value) });
});
$('#site-filter').addEventListener('input', (e) => { filterText = fold(e.target.value.trim()); live.render(); });
const answerForm = $('#answer-for-site');
if (answerForm) {
  answerForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = Number.parseInt($('#site-headcount').value, 10);
    if (!selected || !Number.isInteger(value) || value < 1) { live.flash(_('Nhập quân số (số nguyên dương).'), 'bad'); return; }
    const reply = await live.send({ type: 'rollcall.answer', site: selected, headcount: value });
    if (reply.type === 'ack') live.flash(fmt(_('Đã ghi quân số %(n)s cho %(site)s.'), { n: value, site: siteName(live.state, selected) }));
  });
}

document.body.dataset.page = 'console';
const { stream } = await openDevices();
live.start(stream);
