/**
 * What kind of state a `--state` value names, decided without loading the PostgreSQL driver: a
 * command that works on a local state never loads `pg`.
 */

/** `postgres://` or `postgresql://`: the state lives in PostgreSQL. */
export function isPostgresUrl(state: string): boolean {
  return /^postgres(ql)?:\/\//i.test(state);
}
