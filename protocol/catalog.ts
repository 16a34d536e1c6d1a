import { CrucibleError, invalid } from './errors.js';
import { type Json, checkModelName, optionalBoolean, requireModelName, requireObject, requireString, stripVersion } from './validate.js';

/** One downloadable file of a catalog entry, fetched from `uri + "/" + path`. */
export interface CatalogFile {
  path: string;
  /** Bytes; verified when given, else the server's Content-Length is. */
  size?: number;
  sha256?: string;
}

/** A catalog entry, with the fields of the seeds' `GET /foundry/list` plus `files`. */
export interface CatalogEntry {
  name: string;
  displayName: string;
  alias: string;
  version: string;
  uri: string;
  modelType: string;
  publisher: string;
  task: string;
  runtime: { deviceType: string; executionProvider: string };
  fileSizeMb: number;
  promptTemplate: Record<string, string> | null;
  supportsToolCalling: boolean;
  license: string;
  maxOutputTokens: number;
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

/** The seeds' download result. */
export interface DownloadResult {
  Success: boolean;
  ErrorMessage: string | null;
  model?: string;
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
  return {
    name: e.name,
    displayName: str(e.displayName, e.name),
    alias,
    version,
    uri: e.uri.replace(/\/+$/, ''),
    modelType: str(e.modelType, 'ONNX'),
    publisher: str(e.publisher),
    task: str(e.task, 'chat-completion'),
    runtime: { deviceType: str(runtime.deviceType, 'CPU'), executionProvider: str(runtime.executionProvider, 'CPUExecutionProvider') },
    fileSizeMb: typeof e.fileSizeMb === 'number' ? e.fileSizeMb : Math.round(files.reduce((s, f) => s + (f.size ?? 0), 0) / 1e6),
    promptTemplate: e.promptTemplate && typeof e.promptTemplate === 'object' ? e.promptTemplate as Record<string, string> : null,
    supportsToolCalling: e.supportsToolCalling === true,
    license: str(e.license),
    maxOutputTokens: typeof e.maxOutputTokens === 'number' ? e.maxOutputTokens : 2048,
    files,
  };
}

/** Accepts the seeds' `{"model": {"Uri","ProviderType","Name"}}` and a plain `{"model": "<alias or id>"}`. */
export function parseDownloadRequest(input: unknown): DownloadRequest {
  const body = requireObject(input, 'body');
  const m = body.model;
  if (typeof m === 'string') return { model: checkModelName(m, 'model') };
  if (m && typeof m === 'object' && !Array.isArray(m)) {
    const spec = m as Json;
    const name = spec.Name ?? spec.name;
    if (typeof name !== 'string' || name.length === 0) throw invalid('model.Name', "'model.Name' is required");
    checkModelName(name, 'model.Name');
    const uri = spec.Uri ?? spec.uri;
    if (uri !== undefined && typeof uri !== 'string') throw invalid('model.Uri', "'model.Uri' must be a string");
    return { model: name, uri: uri as string | undefined };
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
