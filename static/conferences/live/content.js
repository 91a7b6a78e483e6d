// The content line (issue 14, docs/protocol.md "Presenting"): what every site is shown besides
// the speaker — the presenter's screen (the SFU's `content` slot) or an agenda PDF's page
// (server-side page images, permission-checked) — and the controls of a site that may present.
//
// Opting out (a phone on a weak link): "Không nhận video trình chiếu màn hình" on the join page
// (before joining, or from the content stage in the room) is kept in localStorage
// (`giaoban.noContent` = "1") and makes the offer carry the content slot `inactive`: the SFU
// forwards nothing on it. The stage then says who presents, that this device does not receive
// it, and offers "Nhận video trình chiếu" to turn it back on. An agenda PDF shown page by page
// is one small image per page and is still shown.
//
// Layout: with content on, `body[data-content]` is set and the CSS shows the content large and
// the speaker beside it (under it on a phone); "Đổi bố cục" swaps them (`body[data-layout=speaker]`).
import { _, fmt } from './i18n.js';

const $ = (sel, root = document) => root.querySelector(sel);

export const NO_CONTENT_KEY = 'giaoban.noContent';

// localStorage may be missing or refuse (a private window, storage full): then the choice
// lasts as long as the page.
export function storedNoContent() {
  try { return window.localStorage.getItem(NO_CONTENT_KEY) === '1'; } catch { return false; }
}

export function storeNoContent(on) {
  try {
    if (on) window.localStorage.setItem(NO_CONTENT_KEY, '1');
    else window.localStorage.removeItem(NO_CONTENT_KEY);
  } catch { /* not kept: see storedNoContent */ }
}

export function mayPresent(s) {
  const site = s && s.me && s.me.site;
  if (!site || s.conference.status !== 'live') return false;
  return s.presenter === site || (s.floor_may_present && s.floor === site);
}

function pageWidth() {
  const w = window.innerWidth * (window.devicePixelRatio || 1);
  return w <= 800 ? 640 : (w <= 1600 ? 1280 : 1920);
}

export class Content {
  constructor(live) {
    this.live = live;
    this.sharing = false;
    this.wasPresenter = null;
    document.addEventListener('click', (e) => {
      const el = e.target.closest('[data-action]');
      if (el) this._click(el.dataset.action);
    });
  }

  pageUrl(content, page) {
    const q = this.live.config.doc_query;
    return `/conferences/${this.live.config.code}/documents/${content.document}/pages/${page}/?w=${pageWidth()}${q ? `&${q}` : ''}`;
  }

  async _click(action) {
    const live = this.live;
    const s = live.state;
    if (!s) return;
    const content = s.content;
    switch (action) {
      case 'share-screen': await this.share(); break;
      case 'present-doc': {
        const select = $('[data-role=present-doc]');
        if (select && select.value) live.send({ type: 'content.start', kind: 'document', document: Number(select.value) });
        break;
      }
      case 'content-stop': await this.stop(); break;
      case 'page-prev': case 'page-next':
        if (content && content.kind === 'document') {
          const page = content.page + (action === 'page-next' ? 1 : -1);
          if (page >= 1 && page <= content.pages) live.send({ type: 'content.page', page });
        }
        break;
      case 'content-receive': live.setReceiveContent(true); break;
      case 'content-decline': live.setReceiveContent(false); break;
      case 'swap-layout':
        document.body.dataset.layout = document.body.dataset.layout === 'speaker' ? 'content' : 'speaker';
        break;
      default: break;
    }
  }

  // "Trình chiếu màn hình": the browser asks which screen or window; then it goes on the
  // content line and the server is told (it forwards only what it allowed).
  async share() {
    const live = this.live;
    try {
      await live.media.shareScreen();
    } catch (err) {
      if (err && err.name !== 'NotAllowedError') live.flash(fmt(_('Không chia sẻ được màn hình (%(error)s).'), { error: err.name || err }), 'bad');
      return;
    }
    this.sharing = true;
    this._grace = Date.now(); // until the server's `content` event names us
    document.body.dataset.sharing = '1';
    let reply = await live.send({ type: 'content.start', kind: 'screen' });
    // the user has already picked the screen: a start that came too soon after the previous
    // share (the server's per-site command limit) waits the time it names, at most twice
    for (let tries = 0; reply.type === 'error' && reply.code === 'rate_limited' && tries < 2 && this.sharing; tries++) {
      await new Promise((r) => setTimeout(r, Math.min(5, Number(reply.retry_after) || 1) * 1000 + 50));
      if (!this.sharing) break; // stopped meanwhile (the browser's bar)
      this._grace = Date.now();
      reply = await live.send({ type: 'content.start', kind: 'screen' });
    }
    if (reply.type !== 'ack') {
      this._release();
      if (reply.message) live.flash(fmt(_('Không trình chiếu được: %(reason)s'), { reason: reply.message }), 'bad');
    }
    live.render();
  }

  async stop() {
    const live = this.live;
    this._release();
    const s = live.state;
    if (s && s.content) await live.send({ type: 'content.stop' });
    live.render();
  }

  // the user ended it from the browser's own bar ("Dừng chia sẻ")
  screenEnded() {
    this.sharing = false;
    document.body.dataset.sharing = '';
    const s = this.live.state;
    if (s && s.content && s.content.site === s.me.site && s.content.kind === 'screen') this.live.send({ type: 'content.stop' });
    this.live.render();
  }

  _release() {
    if (this.live.media.screen) this.live.media.stopScreen();
    this.sharing = false;
    document.body.dataset.sharing = '';
  }

  render(s) {
    const live = this.live;
    const me = s.me || {};
    const ended = live.ended;
    const content = ended ? null : s.content;
    const body = document.body.dataset;
    body.content = content ? content.kind : '';
    body.presenter = s.presenter || '';
    // our screen stopped being shown (revoked, another presenter, media left): stop capturing
    if (this.sharing && !(content && content.kind === 'screen' && content.site === me.site)) {
      if (!this._grace || Date.now() - this._grace > 3000) this._release();
    }
    const stage = $('[data-role=content-stage]');
    if (stage) {
      stage.hidden = !content;
      const video = $('[data-slot=content]', stage);
      const img = $('[data-role=content-page]', stage);
      const mine = !!content && content.site === me.site;
      if (video) {
        const wanted = content && content.kind === 'screen'
          ? (mine && live.media.screen ? new MediaStream([live.media.screen]) : live.slotStreams.content || null)
          : null;
        const same = video.srcObject && wanted && video.srcObject.getVideoTracks()[0] === wanted.getVideoTracks()[0];
        if (!same && video.srcObject !== wanted) { video.srcObject = wanted; if (wanted) video.play().catch(() => {}); }
        video.hidden = !content || content.kind !== 'screen';
      }
      if (img) {
        img.hidden = !content || content.kind !== 'document';
        if (content && content.kind === 'document') {
          const url = this.pageUrl(content, content.page);
          if (img.dataset.src !== url) {
            img.dataset.src = url;
            img.src = url;
            img.alt = fmt(_('%(name)s, trang %(n)s'), { name: content.name, n: content.page });
            img.onerror = () => { img.alt = _('Không hiển thị được trang tài liệu (tài liệu mật chỉ dành cho điểm cầu được mời).'); };
          }
          body.contentPage = String(content.page);
        } else {
          body.contentPage = '';
        }
      }
      // a screen this device does not receive: opted out (and how to undo it), or withheld
      // by the server (a confidential conference's uninvited observer)
      const screen = !!content && content.kind === 'screen' && !mine;
      const withheld = live.contentWithheld;
      const optedOut = live.noContent && !withheld;
      body.contentReceive = withheld ? 'withheld' : (optedOut ? 'off' : 'on');
      const off = $('[data-role=content-off]', stage);
      if (off) {
        off.hidden = !(screen && optedOut);
        const who = screen ? (s.sites[content.site] || {}).name || '' : '';
        $('[data-role=content-off-text]', off).textContent = fmt(_('%(site)s đang trình chiếu màn hình. Máy này đang tắt nhận video trình chiếu để tiết kiệm băng thông.'), { site: who });
      }
      const held = $('[data-role=content-withheld]', stage);
      if (held) held.hidden = !(screen && withheld);
      const decline = $('[data-action=content-decline]', stage);
      if (decline) decline.hidden = !(screen && live.contentChoice && !optedOut && !withheld);
      const label = $('[data-role=content-label]', stage);
      if (label && content) {
        const who = (s.sites[content.site] || {}).name || '';
        label.textContent = content.kind === 'document'
          ? fmt(_('Trình chiếu: %(site)s — %(name)s'), { site: who, name: content.name })
          : fmt(_('Trình chiếu màn hình: %(site)s'), { site: who });
      }
      const nav = $('[data-role=page-nav]', stage);
      if (nav) nav.hidden = !(content && content.kind === 'document' && mine);
      const pageNo = $('[data-role=page-no]', stage);
      if (pageNo && content && content.kind === 'document') pageNo.textContent = `${content.page}/${content.pages}`;
      const stop = $('[data-action=content-stop]', stage);
      if (stop) stop.hidden = !content || !(mine || me.chair);
    }
    // the controls of a site that may present
    const box = $('[data-role=present-controls]');
    const may = mayPresent(s) && !ended && !live.left;
    if (box) {
      box.hidden = !may;
      const docs = live.config.documents || [];
      const select = $('[data-role=present-doc]', box);
      if (select && select.options.length !== docs.length) {
        select.replaceChildren(...docs.map((d) => new Option(d.name, String(d.id))));
        const current = docs.find((d) => d.item === s.current_item);
        if (current) select.value = String(current.id);
      }
      if (select) select.hidden = !docs.length;
      const docBtn = $('[data-action=present-doc]', box);
      if (docBtn) docBtn.hidden = !docs.length;
      const share = $('[data-action=share-screen]', box);
      if (share) share.disabled = this.sharing || !navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia;
      const note = $('[data-role=presenter-note]', box);
      if (note) note.textContent = s.presenter === me.site ? _('Chủ trì đã giao quyền trình chiếu cho điểm cầu của bạn.') : _('Điểm cầu đang phát biểu được trình chiếu.');
    }
    // told when the role moves on
    if (this.wasPresenter !== null && this.wasPresenter === me.site && s.presenter !== me.site && me.site) {
      live.flash(s.presenter ? fmt(_('Quyền trình chiếu đã chuyển cho %(site)s.'), { site: (s.sites[s.presenter] || {}).name || '' }) : _('Chủ trì đã thu hồi quyền trình chiếu.'), 'warn');
    }
    this.wasPresenter = s.presenter || null;
    // the console: who presents, and the chair's controls
    const presenting = $('[data-role=presenting]');
    if (presenting) {
      const who = s.presenter ? (s.sites[s.presenter] || {}).name : '';
      let text = who ? fmt(_('Quyền trình chiếu: %(site)s'), { site: who }) : _('Chưa giao quyền trình chiếu.');
      if (content) text += ` · ${fmt(_('đang trình chiếu: %(site)s'), { site: (s.sites[content.site] || {}).name || '' })}`;
      presenting.textContent = ended ? '' : text;
    }
    const revoke = $('[data-action="presenter.revoke"]');
    if (revoke) revoke.hidden = !s.presenter || ended || !me.chair;
    const floorBox = $('[data-role=floor-may-present]');
    if (floorBox) { floorBox.checked = !!s.floor_may_present; floorBox.disabled = !me.chair; }
  }
}
