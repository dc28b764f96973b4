import type { apiShapedRowSchema, describeIssues, strictMessageSchema } from './message-schema.js';

/**
 * zod and the schemas built on it (message-schema.ts) load only when something needs them: a
 * template that is not plain, an API-shaped JSON row, a message checked again after substitution.
 * A plain template and a CSV file never load them, which keeps `validate` quick to start.
 *
 * The row checks are synchronous, so the schemas are loaded ahead (`loadSchemas`, by whoever
 * knows they may be needed) and then read here (`loadedSchemas`).
 */
export interface Schemas {
  readonly apiShapedRowSchema: typeof apiShapedRowSchema;
  readonly strictMessageSchema: typeof strictMessageSchema;
  readonly describeIssues: typeof describeIssues;
}

let loaded: Schemas | undefined;

/** Called by message-schema.ts as it loads. */
export function offerSchemas(schemas: Schemas): void {
  loaded = schemas;
}

export async function loadSchemas(): Promise<Schemas> {
  if (loaded === undefined) await import('./message-schema.js');
  return loadedSchemas();
}

export function loadedSchemas(): Schemas {
  if (loaded === undefined) throw new Error('the message schemas were used before they were loaded — this is a bug in batchsend');
  return loaded;
}
