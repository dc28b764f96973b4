import { isAbsolute, relative } from 'node:path';
import type { Writable } from 'node:stream';

/** The process's streams and environment, passed in so that nothing below cli.ts touches `process`. */
export interface Io {
  readonly stdin: NodeJS.ReadableStream & AsyncIterable<Buffer>;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stderrIsTTY: boolean;
  /** stdin is a terminal (a question can be asked). Undefined: no. */
  readonly stdinIsTTY?: boolean;
  /** Width of the stderr terminal; 0 when unknown. */
  readonly stderrColumns: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** This process's id: a run's lock names its owner by it. */
  readonly pid: number;
}

/**
 * Colour, decided once: NO_COLOR (any non-empty value) turns it off, FORCE_COLOR turns it on
 * (unless it is 0 or false), otherwise colour only on a terminal.
 */
export function useColor(env: Io['env'], isTTY: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !(force === '0' || force.toLowerCase() === 'false');
  return isTTY && env.TERM !== 'dumb';
}

/** 1234567 → "1,234,567" (toLocaleString would load ICU data: ~10 ms at start-up). */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** A path as the user would like to read it: relative to the working directory when inside it. */
export function displayPath(cwd: string, path: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) return path; // a URL (a journal in PostgreSQL), not a path
  const rel = relative(cwd, path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}
