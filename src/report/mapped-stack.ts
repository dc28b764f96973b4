import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * A stack trace with each position in a bundled file (dist/bin/*.js) replaced by its position in
 * the sources, read from the `.map` beside that file: an internal error then names `src/…ts:line`.
 * The maps are read only here, when a bug is reported, never while starting. A position without a
 * map (tsc's output, Node's own modules) is left as it is.
 */
export function mappedStack(stack: string): string {
  const maps = new Map<string, SourceMap | null>();
  // A file as a file: URL (ES modules) or a path (CommonJS).
  const mapOf = (url: string): SourceMap | null => {
    let map = maps.get(url);
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(`${url.startsWith('file:') ? fileURLToPath(url) : url}.map`, 'utf8')));
      } catch {
        map = null;
      }
      maps.set(url, map);
    }
    return map;
  };
  return stack.replace(/((?:file:\/\/)?\/[^\s()]+?\.[cm]?js):(\d+):(\d+)/g, (position: string, url: string, line: string, column: string) => {
    const entry = mapOf(url)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (entry === undefined || !('originalSource' in entry) || typeof entry.originalSource !== 'string') return position;
    // Sources are relative to the map (../../src/cli.ts): shown from the package's root.
    const source = entry.originalSource.replace(/^(\.\.\/)+/, '');
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}
