import { ApiError, type CatalogListing, type DownloadProgress, type ModelInfo, call, getJson, lines } from './api.js';
import { bytes, duration, h, keyed, setText } from './dom.js';

/**
 * Models: what is loaded and cached (`GET /openai/ps`, refreshed every 2 s while shown), with
 * load / unload / remove; and the catalog (`GET /foundry/list`) with downloads whose progress
 * streams from `POST /openai/download` as NDJSON, cancelled by aborting the request.
 */
export function modelsView(root: HTMLElement, notify: (msg: string, error?: boolean) => void): { refresh(): Promise<void>; visible(v: boolean): void } {
  const psBody = h('tbody');
  const catBody = h('tbody');
  const downloads = new Map<string, { ac: AbortController; last: DownloadProgress | null }>();
  root.append(
    h('h2', {}, 'Models'),
    h('div', { class: 'card' },
      h('h3', {}, 'In the cache'),
      h('div', { class: 'scroll' },
        h('table', { id: 'ps-table' },
          h('thead', {}, h('tr', {}, ...['Model', 'State', 'Provider', 'Fused', 'Memory', 'In flight', 'Queue', 'Idle unload in', ''].map((c) => h('th', { scope: 'col' }, c)))),
          psBody))),
    h('div', { class: 'card' },
      h('h3', {}, 'Catalog'),
      h('div', { class: 'scroll' },
        h('table', { id: 'catalog-table' },
          h('thead', {}, h('tr', {}, ...['Alias', 'Id', 'Device', 'Size', 'Licence', 'Cached', ''].map((c) => h('th', { scope: 'col' }, c)))),
          catBody))),
  );

  let busy = false;
  const act = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      notify(what);
    } catch (err) {
      notify(`${what} failed: ${(err as Error).message}`, true);
    }
    await refresh();
  };
  const enc = encodeURIComponent;

  const renderPs = (models: ModelInfo[]) => keyed(psBody, models, (m) => m.id, (m) => {
    const load = h('button', { class: 'small', 'data-action': 'load', onclick: () => act(`Loaded ${m.id}`, () => call(`/openai/load/${enc(m.id)}`)) }, 'Load');
    const unload = h('button', { class: 'small', 'data-action': 'unload', onclick: () => act(`Unloaded ${m.id}`, () => call(`/openai/unload/${enc(m.id)}?force=true`)) }, 'Unload');
    const remove = h('button', { class: 'small danger', 'data-action': 'remove' }, 'Remove');
    remove.addEventListener('click', () => {
      if (remove.dataset.confirm !== '1') {
        remove.dataset.confirm = '1';
        remove.textContent = 'Confirm remove';
        setTimeout(() => { remove.dataset.confirm = ''; remove.textContent = 'Remove'; }, 4000);
        return;
      }
      void act(`Removed ${m.id}`, () => call(`/openai/models/${enc(m.id)}?force=true`, { method: 'DELETE' }));
    });
    return h('tr', {},
      h('th', { scope: 'row' }, h('span', { class: 'name' }, m.alias ?? m.id), h('br'), h('small', { class: 'muted' }, m.id)),
      h('td', { 'data-col': 'state' }), h('td', { 'data-col': 'ep' }), h('td', { 'data-col': 'fused' }), h('td', { 'data-col': 'memory' }),
      h('td', { 'data-col': 'inflight' }), h('td', { 'data-col': 'queued' }), h('td', { 'data-col': 'idle' }),
      h('td', { class: 'actions' }, load, unload, remove));
  }, (tr, m) => {
    const cell = (c: string) => tr.querySelector(`[data-col="${c}"]`)!;
    tr.dataset.state = m.state;
    const state = cell('state');
    setText(state, m.state);
    state.className = `state ${m.state}`;
    state.setAttribute('title', m.error ?? '');
    if (m.error) state.append(h('small', { class: 'error' }, ` ${m.error}`));
    setText(cell('ep'), m.executionProvider ?? '–');
    setText(cell('fused'), m.fused === null ? '–' : m.fused ? 'yes' : 'no');
    setText(cell('memory'), bytes(m.memoryBytes));
    setText(cell('inflight'), String(m.inFlight));
    setText(cell('queued'), String(m.queued));
    setText(cell('idle'), m.state === 'loaded' ? (m.expiresInSeconds === null ? 'busy' : duration(m.expiresInSeconds)) : '–');
    (tr.querySelector('[data-action="load"]') as HTMLButtonElement).disabled = m.state === 'loaded' || m.state === 'loading';
    (tr.querySelector('[data-action="unload"]') as HTMLButtonElement).disabled = m.state !== 'loaded';
  });

  const startDownload = async (entry: CatalogListing) => {
    const ac = new AbortController();
    downloads.set(entry.name, { ac, last: null });
    await refresh();
    try {
      const res = await call('/openai/download', {
        method: 'POST', headers: { accept: 'application/x-ndjson' }, body: JSON.stringify({ model: entry.name }), signal: ac.signal,
      });
      let result: { success?: boolean; error?: string | null } | null = null;
      for await (const line of lines(res)) {
        if (!line.trim()) continue;
        const msg = JSON.parse(line);
        if (msg.type === 'progress') {
          downloads.get(entry.name)!.last = msg as DownloadProgress;
          renderCatalog(lastCatalog);
        } else {
          result = msg;
        }
      }
      if (result?.success) notify(`Downloaded ${entry.name}`);
      else notify(`Download of ${entry.name} failed: ${result?.error ?? 'the stream ended early'}`, true);
    } catch (err) {
      if (ac.signal.aborted) notify(`Download of ${entry.name} cancelled`);
      else notify(`Download of ${entry.name} failed: ${(err as Error).message}`, true);
    } finally {
      downloads.delete(entry.name);
      await refresh();
    }
  };

  let lastCatalog: CatalogListing[] = [];
  let lastCached = '';
  const renderCatalog = (list: CatalogListing[]) => keyed(catBody, list, (e) => e.name, (e) => h('tr', {},
    h('th', { scope: 'row' }, e.alias),
    h('td', {}, h('span', { class: 'name' }, e.name), h('br'), h('small', { class: 'muted' }, e.displayName)),
    h('td', {}, e.runtime?.deviceType ?? '–'),
    h('td', {}, bytes(e.files?.every((f) => typeof f.size === 'number') && e.files.length ? e.files.reduce((a, f) => a + (f.size ?? 0), 0) : e.fileSizeMb * 1e6)),
    h('td', {}, e.license || '–'),
    h('td', { 'data-col': 'cached' }),
    h('td', { class: 'actions', 'data-col': 'download' })), (tr, e) => {
    const dl = downloads.get(e.name);
    tr.dataset.cached = String(e.cached);
    setText(tr.querySelector('[data-col="cached"]')!, e.cached ? 'yes' : 'no');
    const cell = tr.querySelector('[data-col="download"]')!;
    const mode = dl ? 'downloading' : e.cached ? 'cached' : 'idle';
    if (cell.getAttribute('data-mode') !== mode) {
      cell.setAttribute('data-mode', mode);
      if (mode === 'idle') cell.replaceChildren(h('button', { class: 'small primary', 'data-action': 'download', onclick: () => startDownload(e) }, 'Download'));
      else if (mode === 'cached') cell.replaceChildren(h('span', { class: 'muted' }, 'in cache'));
      else {
        cell.replaceChildren(
          h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-label': `Downloading ${e.name}` }, h('div', { class: 'bar' })),
          h('small', { class: 'progress-text', 'aria-live': 'polite' }, 'starting…'),
          h('button', { class: 'small', 'data-action': 'cancel', onclick: () => dl!.ac.abort() }, 'Cancel'));
      }
    }
    if (dl) {
      const p = dl.last;
      const pct = p?.percent ?? (p && p.bytesTotal ? (100 * p.bytesDone) / p.bytesTotal : 0);
      const bar = cell.querySelector('.progress') as HTMLElement;
      bar.setAttribute('aria-valuenow', pct.toFixed(0));
      bar.dataset.percent = pct.toFixed(1);
      (bar.firstElementChild as HTMLElement).style.width = `${pct}%`;
      if (p) {
        setText(cell.querySelector('.progress-text')!, `${pct.toFixed(1)}% · ${bytes(p.bytesDone)}${p.bytesTotal ? ` of ${bytes(p.bytesTotal)}` : ''} · ${bytes(p.bytesPerSecond)}/s · ${duration(p.secondsLeft)} left · file ${p.fileIndex + 1}/${p.fileCount}`);
      }
    }
  });

  async function refresh(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      const ps = await getJson<ModelInfo[]>('/openai/ps');
      renderPs(ps);
      // The catalog is read again only when the cache changed (a download, a removal).
      const cached = ps.map((m) => m.id).sort().join('\n');
      if (cached !== lastCached || lastCatalog.length === 0) {
        lastCatalog = await getJson<CatalogListing[]>('/foundry/list');
        lastCached = cached;
      }
      renderCatalog(lastCatalog);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) notify(`Could not read the models: ${(err as Error).message}`, true);
    } finally {
      busy = false;
    }
  }

  let timer: ReturnType<typeof setInterval> | null = null;
  return {
    refresh,
    visible(v: boolean) {
      if (timer) clearInterval(timer);
      timer = v ? setInterval(() => { if (document.visibilityState === 'visible') void refresh(); }, 2000) : null;
      if (v) void refresh();
    },
  };
}
