import { ApiError, type OcrPrediction, postJson } from './api.js';
import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';

/** OCR: an image dropped or picked is sent to `POST /v1/predict`; its lines are listed and their boxes drawn over it. */
export function ocrView(root: HTMLElement, notify: (msg: string, error?: boolean) => void): void {
  const file = h('input', { id: 'ocr-file', type: 'file', accept: 'image/png,image/jpeg', class: 'visually-hidden' });
  const drop = h('label', { class: 'drop', for: 'ocr-file', id: 'ocr-drop', tabindex: 0 },
    h('strong', {}, 'Drop a PNG or JPEG here'), h('span', { class: 'muted' }, ' or press Enter to choose a file'));
  const stage = h('div', { class: 'ocr-stage', id: 'ocr-stage', hidden: true });
  const list = h('ol', { class: 'ocr-lines', id: 'ocr-lines' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  root.append(h('h2', {}, 'OCR'), h('div', { class: 'card' }, file, drop, status, h('div', { class: 'ocr-layout' }, stage, list)));

  drop.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); file.click(); } });
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const f = ev.dataTransfer?.files[0];
    if (f) void read(f);
  });
  file.addEventListener('change', () => { if (file.files?.[0]) void read(file.files[0]); });

  async function read(f: File): Promise<void> {
    if (!['image/png', 'image/jpeg'].includes(f.type)) { notify(`${f.name}: only PNG and JPEG images are read`, true); return; }
    const url = URL.createObjectURL(f);
    const img = h('img', { src: url, alt: f.name });
    await img.decode().catch(() => {});
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    svg.setAttribute('aria-hidden', 'true');
    stage.replaceChildren(img, svg);
    stage.hidden = false;
    list.replaceChildren();
    status.textContent = `reading ${f.name}…`;
    const data = await new Promise<string>((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
      r.onerror = () => reject(r.error);
      r.readAsDataURL(f);
    });
    try {
      const t0 = performance.now();
      const res = await postJson<{ model: string; predictions: OcrPrediction[] }>('/v1/predict', { items: [{ content_type: f.type, encoder: 'base64', data }] });
      const lines = res.predictions[0]?.lines ?? [];
      status.textContent = `${lines.length} line${lines.length === 1 ? '' : 's'} read by ${res.model} in ${Math.round(performance.now() - t0)} ms`;
      lines.forEach((l, i) => {
        const poly = document.createElementNS(SVG, 'polygon');
        poly.setAttribute('points', l.box.map((p) => p.join(',')).join(' '));
        poly.dataset.line = String(i);
        svg.append(poly);
        const li = h('li', { tabindex: 0, 'data-line': i }, h('span', { class: 'ocr-text' }, l.text), h('small', { class: 'muted' }, ` ${(l.confidence * 100).toFixed(0)}%`));
        const on = (v: boolean) => { poly.classList.toggle('hot', v); li.classList.toggle('hot', v); };
        for (const el of [li, poly]) {
          el.addEventListener('mouseenter', () => on(true));
          el.addEventListener('mouseleave', () => on(false));
        }
        li.addEventListener('focus', () => on(true));
        li.addEventListener('blur', () => on(false));
        list.append(li);
      });
    } catch (err) {
      status.textContent = '';
      if (!(err instanceof ApiError && err.status === 401)) notify(`OCR failed: ${(err as Error).message}`, true);
    }
  }
}
