/**
 * What kind of state a `--state` value names, decided without loading the PostgreSQL driver: a
 * command that works on a local state never loads `pg`.
 */

/** `postgres://` or `postgresql://`: the state lives in PostgreSQL. */
export function isPostgresUrl(state: string): boolean {
  return /^postgres(ql)?:\/\//i.test(state);
}

/** The URL as it may be printed: any password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    // libpq also takes ?password=…
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    // Not parseable: cut whatever sits between "//user:" and "@".
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}
