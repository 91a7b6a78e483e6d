// The conference chat panel of the join page, the console and the watch page
// (docs/protocol.md §4 "Chat"). It renders `state.chat` — the snapshot's last messages, kept
// current by the LiveView (protocol.js) — and sends `chat.send`; the console's chair turns chat
// off and on with `chat.set`. Every text the server sends goes into the page with textContent,
// never as HTML: markup typed into a message shows as the characters typed.
import { _, fmt } from './i18n.js';

const NEAR_BOTTOM_PX = 48;

function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function shortSite(name) {
  return (name || '').replace(/^Điểm cầu\s+/i, '');
}

export class ChatPanel {
  // root: the panel (templates/conferences/live/_chat.html); live: the page's Live.
  constructor(root, live, { maxChars = 1000 } = {}) {
    this.root = root;
    this.live = live;
    this.maxChars = maxChars;
    this.list = root.querySelector('[data-role=chat-list]');
    this.form = root.querySelector('[data-role=chat-form]');
    this.text = root.querySelector('textarea');
    this.to = root.querySelector('[data-role=chat-to]');
    this.toggle = root.querySelector('[data-action="chat.toggle"]');
    this.items = new Map(); // message id → li
    this.lastId = -Infinity;
    this.sending = false;
    if (this.text) this.text.maxLength = maxChars;
    if (this.form) {
      this.form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
      this.text.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
      });
    }
    if (this.toggle) {
      this.toggle.addEventListener('click', () => {
        const s = this.live.state;
        if (!s || !s.chat) return;
        if (s.chat.enabled && !window.confirm(_('Tắt tin nhắn của hội nghị? Các điểm cầu sẽ không gửi được tin nhắn.'))) return;
        this.live.send({ type: 'chat.set', enabled: !s.chat.enabled });
      });
    }
  }

  async send() {
    const s = this.live.state;
    if (!s || !s.chat || this.sending) return;
    const text = this.text.value.trim();
    if (!text) { this.text.focus(); return; }
    if (text.length > this.maxChars) {
      this.live.flash(fmt(_('Tin nhắn dài quá %(n)s ký tự.'), { n: this.maxChars }), 'bad');
      return;
    }
    this.sending = true;
    const to = this.to && !this.to.hidden ? this.to.value : 'all';
    try {
      const reply = await this.live.send({ type: 'chat.send', text, to });
      if (reply.type === 'ack') this.text.value = '';
    } finally {
      this.sending = false;
      this.text.focus({ preventScroll: true });
    }
  }

  _item(m, s) {
    const li = document.createElement('li');
    li.dataset.id = String(m.id);
    li.dataset.site = m.site;
    li.classList.toggle('mine', !!s.me && m.site === s.me.site);
    li.classList.toggle('to-chair', m.to === 'chair');
    const head = document.createElement('div');
    head.className = 'chat-meta';
    const time = document.createElement('time');
    time.dateTime = m.at;
    time.textContent = clock(m.at);
    const who = document.createElement('strong');
    who.textContent = shortSite(m.site_name);
    who.title = m.author ? `${m.site_name} — ${m.author}` : m.site_name;
    head.append(time, ' ', who);
    if (m.to === 'chair') {
      const mark = document.createElement('span');
      mark.className = 'chat-to';
      mark.textContent = _('→ chủ trì');
      head.append(' ', mark);
    }
    const body = document.createElement('p');
    body.className = 'chat-text';
    body.textContent = m.text;
    li.append(head, body);
    return li;
  }

  render(s) {
    const c = s && s.chat;
    const me = (s && s.me) || {};
    const rights = me.chat || { read: false, send: false };
    if (!c || !rights.read) { this.root.hidden = true; return; }
    this.root.hidden = false;
    const ended = ['ended', 'cancelled'].includes(s.conference.status);
    const gone = ended || this.live.left;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < NEAR_BOTTOM_PX;
    const ids = new Set(c.messages.map((m) => m.id));
    for (const [id, li] of this.items) {
      if (!ids.has(id)) { li.remove(); this.items.delete(id); }
    }
    let added = false;
    const fresh = c.messages.filter((m) => !this.items.has(m.id));
    if (fresh.some((m) => m.id < this.lastId)) {
      // an older message arrived (a reconnect's snapshot): rebuild in id order
      this.list.replaceChildren();
      this.items.clear();
      for (const m of c.messages) { const li = this._item(m, s); this.items.set(m.id, li); this.list.append(li); }
      added = true;
    } else {
      for (const m of fresh) { const li = this._item(m, s); this.items.set(m.id, li); this.list.append(li); added = true; }
    }
    this.lastId = c.messages.length ? c.messages[c.messages.length - 1].id : -Infinity;
    if (added && atBottom) this.list.scrollTop = this.list.scrollHeight;
    this.root.dataset.count = String(c.messages.length);
    this.root.dataset.enabled = c.enabled ? '1' : '0';
    const show = (role, on) => { const el = this.root.querySelector(`[data-role=${role}]`); if (el) el.hidden = !on; };
    show('chat-empty', !c.messages.length);
    show('chat-off', !c.enabled && !ended);
    show('chat-readonly', !rights.send && !gone);
    if (this.form) {
      this.form.hidden = !rights.send || gone;
      const off = !c.enabled;
      this.text.disabled = off;
      this.form.querySelector('button[type=submit]').disabled = off;
      // the chair site writes to everyone; a conference without a chair site has nobody to ask
      const chairSite = s.conference.chair_site;
      if (this.to) this.to.hidden = !chairSite || me.site === chairSite;
    }
    if (this.toggle) {
      this.toggle.hidden = !me.chair || ended;
      this.toggle.textContent = c.enabled ? _('Tắt tin nhắn') : _('Bật tin nhắn');
    }
  }
}
