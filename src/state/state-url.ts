/**
 * What kind of state a `--state` value names, decided without loading the PostgreSQL driver: a
 * command that works on a local state never loads `pg`.
 */

/** `postgres://` or `postgresql://`: the state lives in PostgreSQL. */
export function isPostgresUrl(state: string): boolean {
  return /^postgres(ql)?:\/\//i.test(state);
}

/**
 * What a URL's user-info may hide as its password: everything between `//user:` and the last `@`,
 * however it is spelled. A password with an unescaped `/`, `#` or `?` in it (`user:1234/pw@host`)
 * parses as a valid URL with an empty password and the secret in the path, so the URL parser
 * cannot be trusted to find it; undefined when there is no such part.
 */
export function rawPasswordOf(url: string): string | undefined {
  return USER_INFO.exec(url)?.[2];
}

const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^\s]*)@/i;

/** The URL as it may be printed: any password replaced by `***`. */
export function redactUrl(url: string): string {
  const cut = url.replace(USER_INFO, '$1***@');
  try {
    const parsed = new URL(cut);
    if (parsed.password !== '') parsed.password = '***';
    // libpq also takes ?password=…
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return cut.replace(/([?&]password=)[^&#\s]*/gi, '$1***');
  }
}
