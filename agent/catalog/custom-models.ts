import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { CustomModelRequest } from '../../protocol/control-plane.js';
import { CrucibleError } from '../../protocol/errors.js';
import { writeFileAtomic } from '../atomic-file.js';
import type { CacheOps } from '../cache-ops.js';
import { detectLayout } from '../../workers/engine/model-spec.js';
import { readPredictiveManifest } from '../../workers/predict/manifest.js';
import { checkRegistryHost, checkServerUrl } from './ssrf.js';

export interface CustomModelRecord {
  name: string;
  request: CustomModelRequest;
  createdAt: string;
  updatedAt: string;
}

export type CustomKind = 'path' | 'url' | 'registry';

export const kindOf = (r: CustomModelRequest): CustomKind =>
  r.source.custom.path !== undefined ? 'path' : r.source.custom.url !== undefined ? 'url' : 'registry';

/** The folder (under the models folder) a folder-path custom model is linked into. */
export const customFolder = (name: string) => `custom/${name}`;

/**
 * Custom (BYO) models, persisted in one JSON file. A folder on this machine is linked into the
 * model cache as `custom/<name>`; an OpenAI-compatible URL becomes an external model answering for
 * `<name>`; a registry reference is kept as it is (only the Kubernetes backend can run it).
 */
export class CustomModels {
  private records: CustomModelRecord[] = [];

  constructor(
    private readonly file: string,
    private readonly modelsDir: string,
    private readonly cache: CacheOps,
    private readonly allowPrivate: boolean,
  ) {
    try {
      const list = JSON.parse(readFileSync(file, 'utf8'));
      if (Array.isArray(list)) this.records = list;
    } catch {
      // None yet.
    }
  }

  list(): CustomModelRecord[] {
    return [...this.records];
  }

  get(name: string): CustomModelRecord | undefined {
    return this.records.find((r) => r.name === name);
  }

  /** Checks a request against SSRF and the file system before anything is stored. */
  private check(req: CustomModelRequest): void {
    const c = req.source.custom;
    if (c.registry !== undefined) checkRegistryHost(c.registry, 'source.custom.registry', this.allowPrivate);
    if (c.url !== undefined) checkServerUrl(c.url, 'source.custom.url', this.allowPrivate);
    if (c.path !== undefined) {
      if (!isAbsolute(c.path)) throw new CrucibleError('invalid_request', 'the folder path must be absolute', 'source.custom.path');
      const dir = resolve(c.path);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CrucibleError('invalid_request', `no folder at ${dir}`, 'source.custom.path');
      if (!readPredictiveManifest(dir) && detectLayout(dir) === null) {
        throw new CrucibleError('invalid_request', `${dir} holds no model Crucible can load (ONNX files with a tokenizer, or a predictive manifest)`, 'source.custom.path');
      }
    }
  }

  create(req: CustomModelRequest): CustomModelRecord {
    if (this.get(req.name)) throw new CrucibleError('conflict', `a custom model named '${req.name}' already exists`, 'name');
    this.check(req);
    const now = new Date().toISOString();
    const record = { name: req.name, request: req, createdAt: now, updatedAt: now };
    this.activate(record);
    this.records.push(record);
    this.save();
    return record;
  }

  replace(name: string, req: CustomModelRequest): CustomModelRecord {
    const old = this.get(name);
    if (!old) throw new CrucibleError('not_found', `no custom model named '${name}'`, 'name');
    if (req.name !== name) throw new CrucibleError('invalid_request', `the body's name '${req.name}' differs from the path's '${name}'`, 'name');
    this.check(req);
    this.deactivate(old);
    const record = { name, request: req, createdAt: old.createdAt, updatedAt: new Date().toISOString() };
    this.activate(record);
    this.records = this.records.map((r) => (r.name === name ? record : r));
    this.save();
    return record;
  }

  delete(name: string): void {
    const old = this.get(name);
    if (!old) throw new CrucibleError('not_found', `no custom model named '${name}'`, 'name');
    this.deactivate(old);
    this.records = this.records.filter((r) => r.name !== name);
    this.save();
  }

  /** The name the registry knows a custom model by, or null when it cannot run here. */
  registryName(record: CustomModelRecord): string | null {
    const kind = kindOf(record.request);
    return kind === 'path' ? customFolder(record.name) : kind === 'url' ? record.name : null;
  }

  private link(name: string): string {
    return join(this.modelsDir, 'custom', name);
  }

  private activate(record: CustomModelRecord): void {
    const c = record.request.source.custom;
    if (c.path !== undefined) {
      mkdirSync(join(this.modelsDir, 'custom'), { recursive: true });
      const link = this.link(record.name);
      if (existsSync(link) || isLink(link)) rmSync(link, { force: true });
      symlinkSync(resolve(c.path), link, 'dir');
      this.cache.refresh();
    } else if (c.url !== undefined) {
      void this.cache.register({ TypeName: 'custom', ModelName: record.name, BaseUri: c.url.replace(/\/+$/, '') });
    }
  }

  private deactivate(record: CustomModelRecord): void {
    const c = record.request.source.custom;
    if (c.path !== undefined) {
      const link = this.link(record.name);
      // Only the link goes, never the user's folder behind it.
      if (isLink(link)) rmSync(link, { force: true });
      this.cache.refresh();
    } else if (c.url !== undefined) {
      this.cache.unregister(record.name);
    }
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.records, null, 2));
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
