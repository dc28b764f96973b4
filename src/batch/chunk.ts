/** Split a stream into consecutive groups of `size` (the last may be smaller), in order. */
export async function* chunk<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let group: T[] = [];
  for await (const item of items) {
    group.push(item);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}

/** Line numbers as [first, last] runs of consecutive lines. */
export function lineRuns(lines: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const line of lines) {
    const last = runs.at(-1);
    if (last !== undefined && last[1] === line - 1) last[1] = line;
    else runs.push([line, line]);
  }
  return runs;
}
