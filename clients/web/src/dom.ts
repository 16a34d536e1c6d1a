/** A few DOM helpers: the console builds its views with these and plain DOM calls. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

/**
 * `h('button', { class: 'primary', onclick: fn, disabled: true }, 'Load')`. Keys starting with
 * `on` add listeners; `class`, `for`, `aria-*`, `data-*` and `role` become attributes; other keys
 * set properties (value, disabled, hidden...).
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class' || k === 'for' || k === 'role' || k.startsWith('aria-') || k.startsWith('data-') || k === 'type' || k === 'name' || k === 'placeholder' || k === 'title') el.setAttribute(k, String(v));
    else (el as unknown as Record<string, unknown>)[k] = v;
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
}

/** Sets text only when it changed, so live updates do not disturb selection or screen readers. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Keeps one row element per key in `parent`, in the order of `items`: rows of keys that left are
 * removed, new keys get `create`, every row gets `update`. Focused buttons survive refreshes.
 */
export function keyed<T, E extends Element>(parent: Element, items: T[], key: (t: T) => string, create: (t: T) => E, update: (el: E, t: T) => void): void {
  const existing = new Map<string, E>();
  for (const child of Array.from(parent.children)) {
    const k = (child as HTMLElement).dataset.key;
    if (k !== undefined) existing.set(k, child as E);
  }
  let prev: Element | null = null;
  const seen = new Set<string>();
  for (const item of items) {
    const k = key(item);
    seen.add(k);
    let el = existing.get(k);
    if (!el) {
      el = create(item);
      (el as unknown as HTMLElement).dataset.key = k;
    }
    update(el, item);
    const want: Element | null = prev ? prev.nextElementSibling : parent.firstElementChild;
    if (want !== el) parent.insertBefore(el, want);
    prev = el;
  }
  for (const [k, el] of existing) if (!seen.has(k)) el.remove();
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(i === 0 ? 0 : v < 10 ? 2 : 1)} ${units[i]}`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
