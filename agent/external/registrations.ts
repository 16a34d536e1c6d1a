import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExternalModel } from '../../protocol/catalog.js';

/** Registered external models, persisted in one JSON file so they survive restarts. */
export class ExternalRegistrations {
  private models: ExternalModel[] = [];

  constructor(private readonly file: string) {
    try {
      const list = JSON.parse(readFileSync(file, 'utf8'));
      if (Array.isArray(list)) this.models = list;
    } catch {
      // None yet.
    }
  }

  list(): ExternalModel[] {
    return [...this.models];
  }

  /** Adds or replaces the registration of a model name. */
  add(model: ExternalModel): void {
    this.models = [...this.models.filter((m) => m.ModelName.toLowerCase() !== model.ModelName.toLowerCase()), model];
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file + '.tmp', JSON.stringify(this.models, null, 2), { mode: 0o600 });
    renameSync(this.file + '.tmp', this.file);
  }
}
