// The chair console: floor queue, every invited site grouped by kind and district (usable at
// 210+: one element per site, updated in place; filter with diacritic-insensitive search),
// who is speaking and each site's link, and the live controls. The chair's own media runs
// here too (same socket as the join page would use: one connection per site).
import { $, Live, siteName, tileName } from './conference.js';
import { openDevices } from './media.js';
import { fold } from './protocol.js';
import { ChatPanel } from './chat.js';
import { _, fmt } from './i18n.js';

const config = JSON.parse(document.getElementById('live-config').textContent);
const STATES = {
  offline: _('Chưa kết nối'), online: _('Đã kết nối'), nomedia: _('Không kết nối được hình'), novideo: _('Không có hình'),
  answered: _('Đã điểm danh'), counted: _('Đã có quân số'),
};
const LINK_TEXT = { good: _('đường truyền tốt'), fair: _('đường truyền trung bình'), poor: _('đường truyền kém') };
const LINK_STALE_MS = 45000; // a site's page reports its link every ~20 s
// what the SFU's bandwidth allocation gives a site (`quality` events)
const RECEIVED_TEXT = { reduced: _('hình giảm chất lượng'), audio: _('chỉ âm thanh') };
const grid = $('#site-grid');
const tiles = new Map();
const groupEls = new Map();
let filterText = '';
let filterState = '';
let selected = null;

// The link a site's page last reported (state and quality), if recent.
function link(code) {
  const l = live.links[code];
  return l && Date.now() - l.at < LINK_STALE_MS ? l : null;
}

// Our own site is connected when our own media is (the chair site may have no invitation,
// hence no presence interval, in older data).
function connected(s, code) {
  if (s.me && code === s.me.site) return live.mediaState === 'connected' || s.sites[code].connected;
  return s.sites[code].connected;
}

function siteState(s, code) {
  const site = s.sites[code];
  if (s.rollcall && Object.prototype.hasOwnProperty.call(s.rollcall.answers, code)) return 'answered';
  if (!connected(s, code)) {
    const l = link(code);
    return l && ['stuck', 'failed', 'retrying', 'waiting'].includes(l.state) ? 'nomedia' : 'offline';
  }
  if (site.headcount !== null && site.headcount !== undefined) return 'counted';
  const own = s.me && code === s.me.site;
  if (!site.video && !(own && live.local && live.local.getVideoTracks().length)) return 'novideo';
  return 'online';
}

function groups(s) {
  // config.groups from the server; sites not in them (should not happen) go last
  const known = new Set();
  const out = (config.groups || []).map((g) => { g.sites.forEach((c) => known.add(c)); return g; });
  const rest = s.site_order.filter((c) => !known.has(c));
  if (rest.length) out.push({ key: 'rest', label: _('Điểm cầu khác'), sites: rest });
  return out;
}

function buildGrid(s) {
  grid.replaceChildren();
  tiles.clear();
  groupEls.clear();
  const frag = document.createDocumentFragment();
  for (const g of groups(s)) {
    const section = document.createElement('section');
    section.className = 'site-group';
    section.dataset.group = g.key;
    const head = document.createElement('h3');
    const title = document.createElement('span');
    title.textContent = g.label;
    const count = document.createElement('span');
    count.className = 'group-count';
    head.append(title, count);
    const box = document.createElement('div');
    box.className = 'group-sites';
    section.append(head, box);
    groupEls.set(g.key, { section, count, sites: g.sites.filter((c) => s.sites[c]) });
    for (const code of g.sites) {
      const site = s.sites[code];
      if (!site) continue;
      const tile = document.createElement('button');
      tile.type = 'button';
      tile.className = 'site-tile';
      tile.dataset.code = code;
      tile.dataset.search = fold(`${site.name} ${site.unit} ${site.key} ${g.label}`);
      tile.title = `${site.name} — ${site.unit}`;
      const name = document.createElement('span');
      name.className = 'tn';
      name.textContent = tileName(site.name);
      const marks = document.createElement('span');
      marks.className = 'tm';
      const level = document.createElement('span');
      level.className = 'level';
      level.setAttribute('aria-hidden', 'true');
      tile.append(name, marks, level);
      box.append(tile);
      tiles.set(code, { tile, marks });
    }
    frag.append(section);
  }
  grid.append(frag);
}

function renderGrid(s) {
  if (tiles.size !== s.site_order.length || s.site_order.some((c) => !tiles.has(c))) buildGrid(s);
  const counts = { offline: 0, online: 0, nomedia: 0, novideo: 0, answered: 0, counted: 0 };
  const ended = live.ended;
  const main = ended ? null : (s.broadcast || s.floor);
  let shown = 0;
  const visibleIn = new Map();
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
    if (!ended && s.speaking === code) flags.push(_('đang nói'));
    if (!ended && s.hands.includes(code)) flags.push(fmt(_('tay #%(n)s'), { n: s.hands.indexOf(code) + 1 }));
    if (!ended && s.muted.includes(code)) flags.push(_('tắt tiếng'));
    if (!ended && s.presenter === code) flags.push(_('trình chiếu'));
    if (state === 'nomedia') flags.push(_('không kết nối được hình'));
    const l = link(code);
    if (l && connected(s, code) && LINK_TEXT[l.quality]) flags.push(LINK_TEXT[l.quality]);
    const received = connected(s, code) ? live.received[code] : null;
    if (received && RECEIVED_TEXT[received.quality]) flags.push(RECEIVED_TEXT[received.quality]);
    tile.dataset.received = (received && received.quality) || '';
    const hc = s.rollcall && s.rollcall.answers[code] !== undefined ? s.rollcall.answers[code] : site.headcount;
    if (hc !== null && hc !== undefined) flags.push(fmt(_('%(n)s người'), { n: hc }));
    const markText = flags.join(' · ');
    if (marks.textContent !== markText) marks.textContent = markText;
    tile.dataset.quality = l && connected(s, code) ? l.quality || '' : '';
    tile.classList.toggle('is-main', code === main);
    tile.classList.toggle('is-speaking', !ended && s.speaking === code);
    tile.classList.toggle('is-selected', code === selected);
    const visible = (!filterText || tile.dataset.search.includes(filterText)) && (!filterState || state === filterState);
    tile.hidden = !visible;
    if (visible) shown += 1;
    visibleIn.set(code, { visible, online: connected(s, code) });
  }
  for (const { section, count, sites } of groupEls.values()) {
    const inGroup = sites.map((c) => visibleIn.get(c) || { visible: false, online: false });
    const online = inGroup.filter((x) => x.online).length;
    count.textContent = fmt(_('%(connected)s/%(total)s đã kết nối'), { connected: online, total: sites.length });
    section.hidden = !inGroup.some((x) => x.visible);
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
  const hands = live.ended ? [] : s.hands;
  for (const code of hands) {
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
  $('[data-role=queue-empty]').hidden = hands.length > 0;
}

function renderSelected(s) {
  const box = $('#selected-site');
  if (!box) return;
  if (!selected || !s.sites[selected]) { box.hidden = true; return; }
  const site = s.sites[selected];
  box.hidden = false;
  $('[data-role=selected-name]').textContent = `${site.name} (${site.unit})`;
  const on = connected(s, selected);
  const facts = [on ? _('đã kết nối') : _('chưa kết nối'), site.video ? _('có hình') : _('không có hình'), site.audio ? _('có tiếng') : _('không có tiếng')];
  const l = link(selected);
  if (l && on && LINK_TEXT[l.quality]) facts.push(LINK_TEXT[l.quality]);
  const received = on ? live.received[selected] : null;
  if (received && RECEIVED_TEXT[received.quality]) {
    const est = received.estimate_kbps;
    facts.push(est ? fmt(_('%(state)s (ước lượng %(kbps)s kbit/s)'), { state: RECEIVED_TEXT[received.quality], kbps: est }) : RECEIVED_TEXT[received.quality]);
  }
  if (siteState(s, selected) === 'nomedia') facts.push(_('trang của điểm cầu đã mở nhưng không kết nối được hình'));
  if (site.headcount !== null && site.headcount !== undefined) facts.push(fmt(_('quân số %(n)s'), { n: site.headcount }));
  $('[data-role=selected-facts]').textContent = facts.join(' · ');
  const muted = s.muted.includes(selected);
  const muteBtn = $('[data-action="mute.set"]', box);
  if (muteBtn) { muteBtn.textContent = muted ? _('Bật tiếng') : _('Tắt tiếng'); muteBtn.dataset.muted = muted ? 'false' : 'true'; }
  const grant = $('[data-action="presenter.grant"]', box);
  if (grant) grant.textContent = s.presenter === selected ? _('Thu hồi quyền trình chiếu') : _('Giao quyền trình chiếu');
  const bc = $('[data-action="broadcast.set"]', box);
  if (bc) bc.textContent = s.broadcast === selected ? _('Thôi phát') : _('Phát điểm cầu này');
}

function renderControls(s) {
  const status = s.conference.status;
  const show = (sel, on) => { const el = $(sel); if (el) el.hidden = !on; };
  const ended = live.ended;
  show('[data-action=start]', status === 'scheduled');
  show('[data-action=end]', status === 'live');
  show('[data-action="rollcall.start"]', !s.rollcall && status === 'live');
  show('[data-action="recording.pause"]', status === 'live' && s.recording === 'on');
  show('[data-action="recording.resume"]', status === 'live' && s.recording === 'paused');
  show('[data-action="rollcall.end"]', !!s.rollcall && !ended);
  for (const el of document.querySelectorAll('.live-only')) el.hidden = status !== 'live';
  const board = $('[data-role=rollcall-board]');
  if (ended) {
    board.textContent = '';
  } else if (s.rollcall) {
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
  const online = ended ? 0 : s.site_order.filter((c) => connected(s, c)).length;
  let count = fmt(_('%(connected)s/%(total)s điểm cầu đã kết nối'), { connected: online, total: s.site_order.length });
  if (s.observers) count += ` · ${fmt(_('%(n)s người theo dõi'), { n: s.observers })}`;
  $('[data-role=connected-count]').textContent = ended ? '' : count;
}

function render(s) {
  renderGrid(s);
  renderQueue(s);
  renderSelected(s);
  renderControls(s);
  chat.render(s);
}

const live = new Live(config, { onRender: render });
const chat = new ChatPanel($('#chat'), live, { maxChars: config.chat_max_chars });

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
    case 'presenter.grant': if (site) live.send({ type, site: s.presenter === site ? null : site }); break;
    case 'presenter.revoke': live.send({ type }); break;
    case 'retake': live.retake(); break;
    case 'agenda.prev': agendaStep(-1); break;
    case 'agenda.next': agendaStep(1); break;
    case 'rollcall.start': case 'rollcall.end': case 'absent.call': live.send({ type }); break;
    case 'recording.pause': case 'recording.resume': live.send({ type }); break;
    default: break;
  }
});

$('#agenda-select').addEventListener('change', (e) => {
  if (e.target.value) live.send({ type: 'agenda.goto', item: Number(e.target.value) });
});
const floorMayPresent = $('[data-role=floor-may-present]');
if (floorMayPresent) floorMayPresent.addEventListener('change', (e) => live.send({ type: 'presenter.floor', allowed: e.target.checked }));
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
