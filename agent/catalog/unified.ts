import type { CatalogListing } from '../../protocol/catalog.js';
import { COMPUTE, type ModelDetail, type ModelList, type ModelListQuery, type ModelSummary } from '../../protocol/control-plane.js';
import { SERVICE_VERSION } from '../../protocol/version.js';
import { type CustomModelRecord, kindOf } from './custom-models.js';

const computeOf = (deviceType: string): ModelSummary['supportedCompute'] => {
  const c = deviceType.toLowerCase();
  return (COMPUTE as readonly string[]).includes(c) ? [c as 'cpu' | 'gpu' | 'npu'] : null;
};

export function catalogSummary(e: CatalogListing): ModelSummary {
  return {
    name: e.name, displayName: e.displayName || null, alias: e.alias || null, publisher: e.publisher || null,
    description: null, license: e.license || null, task: e.task || null, source: 'foundry-local',
    framework: e.modelType || null, modelVersion: e.version || null, supportedCompute: computeOf(e.runtime.deviceType), cached: e.cached,
  };
}

export function catalogDetail(e: CatalogListing): ModelDetail {
  return { ...catalogSummary(e), spec: { ...e }, createdAt: null, updatedAt: null };
}

export function customSummary(r: CustomModelRecord, runnable: boolean): ModelSummary {
  const req = r.request;
  const kind = kindOf(req);
  return {
    name: r.name, displayName: req.displayName ?? r.name, alias: null, publisher: req.publisher ?? null, description: req.description ?? null,
    license: req.license ?? null, task: req.capabilities?.task ?? 'chat-completion', source: 'custom',
    framework: kind === 'path' ? 'ONNX' : kind === 'url' ? 'OpenAI-compatible' : 'Custom/OCI',
    modelVersion: req.source.custom.tag ?? null, supportedCompute: kind === 'path' ? ['cpu'] : null, cached: runnable,
  };
}

export function customDetail(r: CustomModelRecord, runnable: boolean): ModelDetail {
  return { ...customSummary(r, runnable), spec: { ...r.request }, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

const has = (v: string | null, part: string) => v !== null && v.toLowerCase().includes(part.toLowerCase());

/** Seed 003's filters (all must hold) and offset pagination: limit clamped to 1-100, default 100. */
export function filterAndPage(all: ModelSummary[], q: ModelListQuery, meta: { lastSync: string | null }): ModelList {
  const matches = all.filter((m) => (q.name === undefined || has(m.name, q.name) || has(m.alias, q.name) || has(m.displayName, q.name))
    && (q.compute === undefined || (m.supportedCompute ?? []).includes(q.compute))
    && (q.task === undefined || (m.task ?? '').toLowerCase() === q.task.toLowerCase())
    && (q.publisher === undefined || has(m.publisher, q.publisher))
    && (q.source === undefined || m.source === q.source));
  const limit = q.limit === undefined ? null : Math.min(100, Math.max(1, q.limit));
  const offset = q.offset ?? null;
  const start = offset ?? 0;
  const models = matches.slice(start, start + (limit ?? 100));
  return {
    models, total: matches.length, count: models.length, hasMore: start + models.length < matches.length, limit, offset,
    unfilteredTotal: all.length, version: meta.lastSync ? `${SERVICE_VERSION}+${meta.lastSync}` : SERVICE_VERSION, lastSync: meta.lastSync,
  };
}
