import type { TestProject } from 'vitest/node';
// @ts-expect-error -- a plain ES module script, shared with `npm run pg:start` and the benchmark
import { reapStaleClusters, startCluster } from '../scripts/pg-cluster.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The admin URL of the run's throw-away PostgreSQL, or '' when it could not start. */
    pgUrl: string;
    /** Why PostgreSQL could not start ('' when it did). */
    pgError: string;
  }
}

/**
 * One throw-away PostgreSQL for the whole test run, owned by this vitest process (a later run
 * stops it if this one is killed before its teardown). If it cannot start, the run goes on and every
 * PostgreSQL test fails with the reason (never skipped): see test/pg.ts.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  try {
    // Clusters left by test runs that were killed before their teardown (their vitest is gone).
    (reapStaleClusters as () => string[])();
    const cluster = (await startCluster({ owner: process.pid })) as { url: string; stop: () => void };
    project.provide('pgUrl', cluster.url);
    project.provide('pgError', '');
    return () => cluster.stop();
  } catch (error) {
    project.provide('pgUrl', '');
    project.provide('pgError', (error as Error).message);
    return () => undefined;
  }
}
