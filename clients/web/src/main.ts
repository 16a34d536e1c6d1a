import { ApiError, apiKey, getJson, onUnauthorized, setApiKey } from './api.js';
import { chatView } from './chat.js';
import { byId } from './dom.js';
import { metricsView } from './metrics.js';
import { modelsView } from './models.js';
import { ocrView } from './ocr.js';

/**
 * The web console served by the agent at `/`. It is a client of the public HTTP API like any
 * other (plus the documented live-metrics feed); it keeps nothing but the API key (this tab's
 * sessionStorage) and the theme choice (also per tab).
 */
const VIEWS = ['models', 'chat', 'metrics', 'ocr'] as const;
type View = (typeof VIEWS)[number];

const banner = byId('banner');
let bannerTimer: ReturnType<typeof setTimeout> | undefined;
function notify(msg: string, error = false): void {
  banner.textContent = msg;
  banner.className = error ? 'error' : 'info';
  banner.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { banner.hidden = true; }, error ? 8000 : 3000);
}

// Theme: auto (the system's), light or dark, per tab.
const THEMES = ['auto', 'light', 'dark'] as const;
const themeButton = byId<HTMLButtonElement>('theme');
function applyTheme(t: string): void {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  themeButton.title = `Theme: ${t === 'auto' ? 'follows the system' : t}`;
  themeButton.setAttribute('aria-label', themeButton.title);
  themeButton.textContent = t === 'auto' ? '◐' : t === 'light' ? '☀' : '☾';
  sessionStorage.setItem('crucible.theme', t);
}
applyTheme(sessionStorage.getItem('crucible.theme') ?? 'auto');
themeButton.addEventListener('click', () => {
  const now = sessionStorage.getItem('crucible.theme') ?? 'auto';
  applyTheme(THEMES[(THEMES.indexOf(now as (typeof THEMES)[number]) + 1) % THEMES.length]);
});

// The API key dialog: shown when a request gets 401.
const dialog = byId<HTMLDialogElement>('key-dialog');
const keyInput = byId<HTMLInputElement>('key-input');
const keyError = byId('key-error');
const keyButton = byId<HTMLButtonElement>('key-button');
function askForKey(message: string): void {
  keyButton.hidden = false;
  keyError.textContent = message;
  keyError.hidden = !message;
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
}
onUnauthorized((msg) => askForKey(msg));
dialog.addEventListener('cancel', (ev) => { if (!apiKey()) ev.preventDefault(); });
byId('key-form').addEventListener('submit', () => {
  setApiKey(keyInput.value.trim() || null);
  keyInput.value = '';
  void start();
});
keyButton.addEventListener('click', () => askForKey(''));

// Views and tabs.
const panels = Object.fromEntries(VIEWS.map((v) => [v, byId(`view-${v}`)])) as Record<View, HTMLElement>;
const tabs = Object.fromEntries(VIEWS.map((v) => [v, byId<HTMLButtonElement>(`tab-${v}`)])) as Record<View, HTMLButtonElement>;
const models = modelsView(panels.models, notify);
const chat = chatView(panels.chat, notify);
const metrics = metricsView(panels.metrics);
ocrView(panels.ocr, notify);

function show(view: View, focus = false): void {
  for (const v of VIEWS) {
    panels[v].hidden = v !== view;
    tabs[v].setAttribute('aria-selected', String(v === view));
    tabs[v].tabIndex = v === view ? 0 : -1;
  }
  if (focus) tabs[view].focus();
  models.visible(view === 'models' && started);
  if (view === 'chat' && started) void chat.refreshModels();
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
}
const fromHash = (): View => (VIEWS as readonly string[]).includes(location.hash.slice(1)) ? location.hash.slice(1) as View : 'models';
for (const v of VIEWS) tabs[v].addEventListener('click', () => show(v));
byId('tabs').addEventListener('keydown', (ev) => {
  const i = VIEWS.indexOf(fromHash());
  const next = ev.key === 'ArrowRight' ? i + 1 : ev.key === 'ArrowLeft' ? i - 1 : ev.key === 'Home' ? 0 : ev.key === 'End' ? VIEWS.length - 1 : null;
  if (next === null) return;
  ev.preventDefault();
  show(VIEWS[(next + VIEWS.length) % VIEWS.length], true);
});
document.addEventListener('keydown', (ev) => {
  if (ev.altKey && !ev.ctrlKey && !ev.metaKey && /^[1-4]$/.test(ev.key)) {
    ev.preventDefault();
    show(VIEWS[Number(ev.key) - 1], true);
  }
});
window.addEventListener('hashchange', () => show(fromHash()));

let started = false;
async function start(): Promise<void> {
  try {
    const status = await getJson<{ version: string; pipeName: string }>('/openai/status');
    byId('service').textContent = `v${status.version}`;
    document.body.dataset.ready = 'true';
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) notify(`The service did not answer: ${(err as Error).message}`, true);
    return;
  }
  started = true;
  keyButton.hidden = !apiKey();
  metrics.start();
  show(fromHash());
  void chat.refreshModels();
}

show(fromHash());
void start();
