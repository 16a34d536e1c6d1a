import { CrucibleError, invalid } from './errors.js';
import { type Json, checkModelName, optionalBoolean, requireModelName, requireObject, requireString, stripVersion } from './validate.js';

/** One downloadable file of a catalog entry, fetched from `uri + "/" + path`. */
export interface CatalogFile {
  path: string;
  /** Bytes; verified when given, else the server's Content-Length is. */
  size?: number;
  sha256?: string;
}

/**
 * A catalog entry, with every field of the seeds' `GET /foundry/list` plus `files`. The Foundry
 * Local SDKs map or validate all of them: the JS SDK's `provider` is `providerType`; the Python
 * SDK requires `modelSettings`, `licenseDescription`, `parentModelUri` and `minFLVersion` as
 * strings/objects, `promptTemplate` as an object and `fileSizeMb` as an integer.
 */
export interface CatalogEntry {
  name: string;
  displayName: string;
  providerType: string;
  alias: string;
  version: string;
  uri: string;
  modelType: string;
  publisher: string;
  task: string;
  runtime: { deviceType: string; executionProvider: string };
  fileSizeMb: number;
  promptTemplate: Record<string, string>;
  modelSettings: { parameters: unknown[] };
  supportsToolCalling: boolean;
  license: string;
  licenseDescription: string;
  parentModelUri: string;
  maxOutputTokens: number;
  minFLVersion: string;
  files: CatalogFile[];
}

/** A catalog entry as listed, with whether it is in the local cache. */
export interface CatalogListing extends CatalogEntry {
  cached: boolean;
}

export interface DownloadRequest {
  /** A catalog name or alias. */
  model: string;
  /** The seeds' form may carry a URI; used when the catalog names the model but it is absent. */
  uri?: string;
  /**
   * Sent the way Foundry Local's clients send it (`model` as an object, or `IgnorePipeReport`):
   * such a client reads progress as text lines and the result as one final JSON object.
   */
  foundryStyle: boolean;
}

export interface DownloadProgress {
  model: string;
  file: string;
  fileIndex: number;
  fileCount: number;
  bytesDone: number;
  bytesTotal: number | null;
  percent: number | null;
  bytesPerSecond: number;
  secondsLeft: number | null;
}

/**
 * The final object of a download stream: the seeds' `Success` / `ErrorMessage`, and the casings
 * the Foundry Local SDKs read (`success` and `error` in JS, `success` and `errorMessage` in Python).
 */
export interface DownloadResult {
  Success: boolean;
  ErrorMessage: string | null;
  success: boolean;
  errorMessage: string | null;
  error: string | null;
  model?: string;
}

export function downloadResult(outcome: { model: string } | { error: string }): DownloadResult {
  if ('model' in outcome) return { Success: true, ErrorMessage: null, success: true, errorMessage: null, error: null, model: outcome.model };
  return { Success: false, ErrorMessage: outcome.error, success: false, errorMessage: outcome.error, error: outcome.error };
}

/**
 * How a download streams. `foundry`: progress as text lines, then the result object in a write of
 * its own, the way Foundry Local answers its SDKs (which send `model` as an object,
 * `IgnorePipeReport`, or a `foundry-local-*` User-Agent). `ndjson`: one JSON object a line, for
 * clients that ask for it with `Accept: application/x-ndjson` (the CLI) and everyone else.
 */
export function downloadStreamFormat(req: DownloadRequest, headers: { accept?: string; userAgent?: string }): 'foundry' | 'ndjson' {
  if (/application\/x-ndjson/i.test(headers.accept ?? '')) return 'ndjson';
  return req.foundryStyle || /^foundry-local-/i.test(headers.userAgent ?? '') ? 'foundry' : 'ndjson';
}

/**
 * A progress report as Foundry Local writes it for its SDKs: one plain-text line holding one
 * percentage (the SDKs read the first `NN.NN%` of a chunk that does not start with `{`).
 */
export function progressLine(p: DownloadProgress): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const size = p.bytesTotal === null ? `${mb(p.bytesDone)} MB` : `${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB`;
  const percent = p.percent === null ? '' : `${p.percent.toFixed(2)}% `;
  return `Downloading ${p.model}: ${percent}${size}, file ${p.fileIndex + 1}/${p.fileCount} ${p.file}\n`;
}

export interface RemoveRequest {
  name: string;
  force: boolean;
}

/** Seed 002's registered external model: an OpenAI-compatible server answering for a name. */
export interface ExternalModel {
  TypeName: string;
  ModelName: string;
  BaseUri: string;
}

const SHA256 = /^[0-9a-f]{64}$/i;

/** A relative path inside the model folder: no absolute paths, no `..`, no backslashes. */
function checkFilePath(path: unknown, where: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 512) throw invalid(where, `'${where}' must be a relative file path`);
  const parts = path.split('/');
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw invalid(where, `'${where}' is not a safe relative path: ${JSON.stringify(path)}`);
  }
  return path;
}

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

/** Validates one entry of a catalog (built-in or remote); throws naming the field. */
export function parseCatalogEntry(value: unknown, where = 'entry'): CatalogEntry {
  const e = requireObject(value, where);
  if (typeof e.name !== 'string' || e.name.length === 0) throw invalid(`${where}.name`, `'${where}.name' is required`);
  checkModelName(e.name, `${where}.name`);
  if (typeof e.uri !== 'string') throw invalid(`${where}.uri`, `'${where}.uri' is required`);
  if (!Array.isArray(e.files) || e.files.length === 0) throw invalid(`${where}.files`, `'${where}.files' must list the model's files`);
  const files = e.files.map((f, i) => {
    const file = requireObject(f, `${where}.files[${i}]`);
    const out: CatalogFile = { path: checkFilePath(file.path, `${where}.files[${i}].path`) };
    if (file.size !== undefined && file.size !== null) {
      if (!Number.isSafeInteger(file.size) || (file.size as number) < 0) throw invalid(`${where}.files[${i}].size`, 'size must be a byte count');
      out.size = file.size as number;
    }
    if (file.sha256 !== undefined && file.sha256 !== null) {
      if (typeof file.sha256 !== 'string' || !SHA256.test(file.sha256)) throw invalid(`${where}.files[${i}].sha256`, 'sha256 must be 64 hex digits');
      out.sha256 = file.sha256.toLowerCase();
    }
    return out;
  });
  const version = str(e.version, e.name.includes(':') ? e.name.slice(e.name.lastIndexOf(':') + 1) : '1');
  const runtime = (e.runtime && typeof e.runtime === 'object' ? e.runtime : {}) as Json;
  const alias = str(e.alias, stripVersion(e.name));
  checkModelName(alias, `${where}.alias`);
  const fileSizeMb = typeof e.fileSizeMb === 'number' && Number.isFinite(e.fileSizeMb) && e.fileSizeMb >= 0
    ? e.fileSizeMb : files.reduce((s, f) => s + (f.size ?? 0), 0) / 1e6;
  const template = e.promptTemplate && typeof e.promptTemplate === 'object' && !Array.isArray(e.promptTemplate)
    ? Object.fromEntries(Object.entries(e.promptTemplate as Json).filter(([, v]) => typeof v === 'string')) as Record<string, string> : {};
  const settings = e.modelSettings && typeof e.modelSettings === 'object' ? e.modelSettings as Json : {};
  return {
    name: e.name,
    displayName: str(e.displayName, e.name),
    providerType: str(e.providerType, 'AzureFoundry'),
    alias,
    version,
    uri: e.uri.replace(/\/+$/, ''),
    modelType: str(e.modelType, 'ONNX'),
    publisher: str(e.publisher),
    task: str(e.task, 'chat-completion'),
    runtime: { deviceType: str(runtime.deviceType, 'CPU'), executionProvider: str(runtime.executionProvider, 'CPUExecutionProvider') },
    // Whole megabytes, never 0 for a model that has bytes.
    fileSizeMb: Math.max(fileSizeMb > 0 ? 1 : 0, Math.round(fileSizeMb)),
    promptTemplate: template,
    modelSettings: { ...settings, parameters: Array.isArray(settings.parameters) ? settings.parameters : [] },
    supportsToolCalling: e.supportsToolCalling === true,
    license: str(e.license),
    licenseDescription: str(e.licenseDescription, e.license ? `This model is provided under the ${str(e.license)} license.` : ''),
    parentModelUri: str(e.parentModelUri, e.uri.replace(/\/+$/, '')),
    maxOutputTokens: typeof e.maxOutputTokens === 'number' ? Math.round(e.maxOutputTokens) : 2048,
    minFLVersion: str(e.minFLVersion),
    files,
  };
}

/** Accepts the seeds' `{"model": {"Uri","ProviderType","Name"}}` and a plain `{"model": "<alias or id>"}`. */
export function parseDownloadRequest(input: unknown): DownloadRequest {
  const body = requireObject(input, 'body');
  const m = body.model;
  const ignorePipeReport = optionalBoolean(body, 'IgnorePipeReport');
  if (typeof m === 'string') return { model: checkModelName(m, 'model'), foundryStyle: ignorePipeReport !== undefined };
  if (m && typeof m === 'object' && !Array.isArray(m)) {
    const spec = m as Json;
    const name = spec.Name ?? spec.name;
    if (typeof name !== 'string' || name.length === 0) throw invalid('model.Name', "'model.Name' is required");
    checkModelName(name, 'model.Name');
    const uri = spec.Uri ?? spec.uri;
    if (uri !== undefined && uri !== null && typeof uri !== 'string') throw invalid('model.Uri', "'model.Uri' must be a string");
    return { model: name, foundryStyle: true, ...(typeof uri === 'string' ? { uri } : {}) };
  }
  throw invalid('model', "'model' must be a model name or {\"Uri\", \"ProviderType\", \"Name\"}");
}

export function parseRemoveRequest(input: unknown): RemoveRequest {
  const body = requireObject(input, 'body');
  return { name: requireModelName(body, 'name'), force: optionalBoolean(body, 'force') ?? false };
}

export function parseExternalModel(input: unknown): ExternalModel {
  const body = requireObject(input, 'body');
  const get = (k: string) => requireString(body, k);
  const BaseUri = get('BaseUri');
  let url: URL;
  try {
    url = new URL(BaseUri);
  } catch {
    throw invalid('BaseUri', `'BaseUri' is not a URL: ${BaseUri}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('BaseUri', "'BaseUri' must be http or https");
  const ModelName = checkModelName(get('ModelName'), 'ModelName');
  return { TypeName: get('TypeName'), ModelName, BaseUri: BaseUri.replace(/\/+$/, '') };
}

export { CrucibleError };
