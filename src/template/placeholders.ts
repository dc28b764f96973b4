/** `${name}` placeholders: finding them in a template and substituting row values. */

const NAME = /^[A-Za-z0-9._-]+$/;

export interface PlaceholderScan {
  /** Distinct names, in order of first appearance. */
  readonly names: string[];
  /** Template problems, each naming the JSON path of the string. */
  readonly problems: string[];
}

/** Find every placeholder in every string inside `value`; `path` names where value sits. */
export function scanPlaceholders(value: unknown, path: string): PlaceholderScan {
  const names: string[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const visit = (node: unknown, at: string): void => {
    if (typeof node === 'string') {
      let from = 0;
      let open: number;
      while ((open = node.indexOf('${', from)) !== -1) {
        const close = node.indexOf('}', open + 2);
        if (close === -1) {
          problems.push(`${at}: '\${' is never closed with '}'`);
          return;
        }
        const name = node.slice(open + 2, close);
        if (name.trim() === '') {
          problems.push(`${at}: a placeholder has no name ('\${${name}}')`);
        } else if (!NAME.test(name)) {
          problems.push(
            `${at}: placeholder '\${${name}}': a name may use only letters, digits, '.', '-' and '_' (rename the column to match)`,
          );
        } else if (!seen.has(name)) {
          seen.add(name);
          names.push(name);
        }
        from = close + 1;
      }
    } else if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, `${at}[${index}]`));
    } else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) visit(child, `${at}.${key}`);
    }
  };
  visit(value, path);
  return { names, problems };
}

/** Every string inside `value`, with the JSON path where it sits (`path` names `value` itself). */
export function* stringsWithin(value: unknown, path: string): Generator<readonly [at: string, text: string]> {
  if (typeof value === 'string') {
    yield [path, value];
  } else if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) yield* stringsWithin(value[index], `${path}[${index}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) yield* stringsWithin(child, `${path}.${key}`);
  }
}

/** A deep copy of `value` with every `${name}` replaced by `values[name]`. */
export function substitute(value: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    return value.includes('${') ? value.replace(/\$\{([^}]*)\}/g, (whole, name: string) => values[name] ?? whole) : value;
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, values));
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) copy[key] = substitute(child, values);
    return copy;
  }
  return value;
}
