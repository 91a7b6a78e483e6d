// The recording player: one <video>, the segments played one after another, chapters that jump
// to (segment, offset). Files come from the permission-checked view with range requests.
const video = document.querySelector('[data-role=recording-video]');
const sourcesEl = document.getElementById('recording-sources');
if (video && sourcesEl) {
  const sources = JSON.parse(sourcesEl.textContent);
  let current = 0;
  const load = (i, offset, play) => {
    if (i < 0 || i >= sources.length) return;
    const seek = () => {
      video.currentTime = offset;
      if (play) video.play().catch(() => {});
    };
    if (i !== current || !video.currentSrc) {
      current = i;
      video.src = sources[i].src;
      video.addEventListener('loadedmetadata', seek, { once: true });
      video.load();
    } else if (video.readyState >= 1) {
      seek();
    } else {
      video.addEventListener('loadedmetadata', seek, { once: true });
    }
    video.dataset.segment = String(i);
  };
  video.dataset.segment = '0';
  // a link from the minutes or the timeline: #rec=<part>:<seconds>
  // (on the same page a timeline row's link only changes the hash: jump and play)
  const fromHash = (play) => {
    const linked = /^#rec=(\d+):(\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (!linked) return;
    load(Number(linked[1]), Number(linked[2]), play);
    if (play) video.scrollIntoView({ block: 'center' });
  };
  fromHash(false);
  window.addEventListener('hashchange', () => fromHash(true));
  video.addEventListener('ended', () => { if (current + 1 < sources.length) load(current + 1, 0, true); });
  for (const button of document.querySelectorAll('[data-role=chapters] button')) {
    button.addEventListener('click', () => {
      load(Number(button.dataset.segment), Number(button.dataset.offset), true);
    });
  }
}
