import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.js';
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
    writeFileAtomic(this.file, JSON.stringify(this.models, null, 2));
  }

  /** Forgets a model name's registration; false when there was none. */
  remove(name: string): boolean {
    const kept = this.models.filter((m) => m.ModelName.toLowerCase() !== name.toLowerCase());
    if (kept.length === this.models.length) return false;
    this.models = kept;
    writeFileAtomic(this.file, JSON.stringify(this.models, null, 2));
    return true;
  }
}
