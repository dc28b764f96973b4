import { createHash } from 'node:crypto';

/**
 * Everything that shapes the batches a run sends, and where they go. Two commands with the same
 * input bytes, template and shape are the same run — from any folder, any spelling of the input's
 * path, any machine sharing the state. A new batch-shaping option belongs here.
 */
export interface RunShape {
  readonly format: string;
  /** The delimiter the rows were read with (given or detected); '' for JSON. */
  readonly delimiter: string;
  readonly encoding: string;
  /** --rename pairs, in order. */
  readonly renames: ReadonlyArray<readonly [string, string]>;
  readonly identityColumn: string | null;
  readonly channel: string | null;
  readonly defaultCountry: string | null;
  readonly allowDuplicates: boolean;
  readonly batchSize: number;
  readonly tracking: boolean;
  readonly gsmSafe: boolean;
  /** The endpoint: API form, project and app (not the base URL: a test server or proxy is the same API). */
  readonly api: string;
  readonly projectId: string;
  readonly appId: string;
}

/** Which fields of a RunShape a user would call what, for "… changed" messages. */
export const SHAPE_NAMES: Record<keyof RunShape, string> = {
  format: '--format',
  delimiter: '--delimiter',
  encoding: '--encoding',
  renames: '--rename',
  identityColumn: '--identity-column',
  channel: '--channel',
  defaultCountry: '--default-country',
  allowDuplicates: '--allow-duplicates',
  batchSize: '--batch-size',
  tracking: '--no-tracking',
  gsmSafe: '--gsm-safe',
  api: '--api',
  projectId: 'the project id',
  appId: 'the app id',
};

/** The shape as a canonical JSON text: keys in one order, so the hash does not depend on it. */
function canonical(shape: RunShape): string {
  return JSON.stringify(Object.keys(SHAPE_NAMES).map((key) => [key, shape[key as keyof RunShape]]));
}

/** The run identity (16 hex digits), also the run id of its first run and so the prefix of its batch tags. */
export function runIdentity(inputSha256: string, templateText: string, shape: RunShape): string {
  return createHash('sha256').update(`batchsend-run-2\u0000${inputSha256}\u0000${templateText}\u0000${canonical(shape)}`).digest('hex').slice(0, 16);
}

/** The options that differ between two shapes, by the names a user knows. */
export function shapeChanges(before: Partial<RunShape>, now: RunShape): string[] {
  return (Object.keys(SHAPE_NAMES) as Array<keyof RunShape>).filter((key) => key in before && JSON.stringify(before[key]) !== JSON.stringify(now[key])).map((key) => SHAPE_NAMES[key]);
}
