/**
 * A small line chart on a canvas: one line per series over a sliding time window, a zero-based y
 * axis with three grid lines, and a legend with each series' latest value. Colours come from the
 * page's CSS variables, so it follows the light and dark themes.
 */
export interface Series {
  name: string;
  points: { t: number; v: number | null }[];
}

const PALETTE = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6'];

export class LineChart {
  readonly root: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly legend: HTMLElement;
  private series: Series[] = [];
  private windowMs = 5 * 60_000;
  private now = Date.now();

  constructor(readonly title: string, private readonly format: (v: number) => string, readonly id: string) {
    this.root = document.createElement('figure');
    this.root.className = 'chart';
    this.root.id = id;
    const caption = document.createElement('figcaption');
    caption.textContent = title;
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', title);
    this.legend = document.createElement('ul');
    this.legend.className = 'legend';
    this.root.append(caption, this.canvas, this.legend);
    new ResizeObserver(() => this.draw()).observe(this.canvas);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.draw());
  }

  /** Replaces the data; `now` is the right edge of the window. */
  set(series: Series[], now: number, windowMs = this.windowMs): void {
    this.series = series;
    this.now = now;
    this.windowMs = windowMs;
    const max = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v ?? 0)));
    this.canvas.dataset.max = String(max);
    this.canvas.dataset.series = String(series.length);
    this.draw();
    this.legend.replaceChildren(...series.map((s, i) => {
      const li = document.createElement('li');
      li.dataset.series = s.name;
      const last = [...s.points].reverse().find((p) => p.v !== null);
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `var(${PALETTE[i % PALETTE.length]})`;
      li.append(swatch, `${s.name}: ${last?.v === null || last === undefined ? '–' : this.format(last.v)}`);
      return li;
    }));
  }

  draw(): void {
    const css = getComputedStyle(this.root);
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const hgt = this.canvas.clientHeight;
    if (w === 0 || hgt === 0) return;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    const g = this.canvas.getContext('2d')!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const font = css.getPropertyValue('--font-mono').trim() || 'monospace';
    g.font = `11px ${font}`;
    const fg = css.getPropertyValue('--muted').trim() || '#888';
    const grid = css.getPropertyValue('--grid').trim() || '#ddd';
    const max = Math.max(...this.series.flatMap((s) => s.points.map((p) => p.v ?? 0)), 0);
    const { top, step } = niceTicks(max);
    const left = 52;
    const right = 8;
    const bottom = 18;
    const plotW = w - left - right;
    const plotH = hgt - bottom - 6;
    const y = (v: number) => 6 + plotH - (top > 0 ? (v / top) * plotH : 0);
    const x = (t: number) => left + ((t - (this.now - this.windowMs)) / this.windowMs) * plotW;
    g.strokeStyle = grid;
    g.fillStyle = fg;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      g.beginPath();
      g.moveTo(left, yy);
      g.lineTo(w - right, yy);
      g.stroke();
      g.fillText(this.format(v), left - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const minutes = Math.round(this.windowMs / 60_000);
    for (let m = 0; m <= minutes; m++) {
      const t = this.now - m * 60_000;
      g.fillText(m === 0 ? 'now' : `-${m}m`, Math.min(Math.max(x(t), left + 12), w - right - 12), hgt - bottom + 4);
    }
    this.series.forEach((s, i) => {
      g.strokeStyle = css.getPropertyValue(PALETTE[i % PALETTE.length]).trim() || '#36c';
      g.lineWidth = 2;
      g.beginPath();
      let pen = false;
      const dots: [number, number][] = [];
      s.points.forEach((p, j) => {
        if (p.v === null || p.t < this.now - this.windowMs) { pen = false; return; }
        if (pen) g.lineTo(x(p.t), y(p.v));
        else g.moveTo(x(p.t), y(p.v));
        // A value with no neighbour (a time to first token) shows as a dot.
        if (!pen && (s.points[j + 1]?.v ?? null) === null) dots.push([x(p.t), y(p.v)]);
        pen = true;
      });
      g.stroke();
      g.fillStyle = g.strokeStyle;
      for (const [dx, dy] of dots) {
        g.beginPath();
        g.arc(dx, dy, 3, 0, 2 * Math.PI);
        g.fill();
      }
    });
  }
}

/** Grid steps of 1, 2 or 5 times a power of ten, at most three of them up to `max`. */
function niceTicks(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 1, step: 1 };
  const raw = max / 3;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  return { top: Math.ceil(max / step) * step, step };
}
