/** Fault injection for tests: what the emulator does instead of (or around) answering normally. */

export const FAULT_ROUTES = ['token', 'send', 'get', 'list', 'cancel', 'any'] as const;
export type FaultRoute = (typeof FAULT_ROUTES)[number];

export const FAULT_KINDS = [
  'status', // answer with this status and the API's error body; nothing is processed
  'accept-then-status', // accept the batch, then answer with this status
  'reset-before', // destroy the connection without processing
  'reset-after', // accept the batch, then destroy the connection
  'hang', // never answer, nothing processed
  'accept-then-hang', // accept the batch, then never answer
  'slow', // wait delay-ms, then answer normally
  'accept-then-empty', // accept the batch, then answer 200 with no batch_id
  'empty', // answer 200 with no batch_id, nothing processed
  'redirect', // answer this 3xx (default 302) with a Location elsewhere, nothing processed
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  readonly route: FaultRoute;
  readonly kind: FaultKind;
  readonly status?: number;
  /** Retry-After seconds to send with a status answer. */
  readonly retryAfter?: number;
  readonly delayMs?: number;
  /** Apply to the next `times` matching requests (default 1) … */
  readonly times?: number;
  /** … or to each matching request with this probability (0..1), without end. */
  readonly rate?: number;
}

export class FaultPlan {
  private rules: Array<FaultRule & { left: number }> = [];

  constructor(private readonly random: () => number = Math.random) {}

  add(rule: FaultRule): void {
    this.rules.push({ ...rule, left: rule.times ?? (rule.rate === undefined ? 1 : Infinity) });
  }

  clear(): void {
    this.rules = [];
  }

  /** The fault for this request, if any; counted rules are used up in the order they were added. */
  next(route: Exclude<FaultRoute, 'any'>): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.route !== route && rule.route !== 'any') continue;
      if (rule.left <= 0) continue;
      if (rule.rate !== undefined && this.random() >= rule.rate) continue;
      rule.left--;
      return rule;
    }
    return undefined;
  }
}

/**
 * Parse `ROUTE:KIND[=VALUE][,key=value…]`, e.g. `send:status=503,times=3`,
 * `send:status=429,retry-after=2,rate=0.2`, `send:reset-after`, `send:slow=1500`.
 */
export function parseFaultSpec(spec: string): FaultRule {
  const match = /^([a-z]+):([a-z-]+)(?:=(\d+))?((?:,[a-z-]+=[\d.]+)*)$/.exec(spec.trim());
  if (match === null) throw new Error(`fault '${spec}' is not ROUTE:KIND[=N][,times=N|,rate=P][,retry-after=S]`);
  const [, route, kind, value, options] = match;
  if (!(FAULT_ROUTES as readonly string[]).includes(route!)) throw new Error(`fault '${spec}': route must be one of ${FAULT_ROUTES.join(', ')}`);
  if (!(FAULT_KINDS as readonly string[]).includes(kind!)) throw new Error(`fault '${spec}': kind must be one of ${FAULT_KINDS.join(', ')}`);
  const rule: { -readonly [K in keyof FaultRule]: FaultRule[K] } = { route: route as FaultRoute, kind: kind as FaultKind };
  if (value !== undefined) {
    if (kind === 'slow') rule.delayMs = Number(value);
    else rule.status = Number(value);
  }
  for (const option of (options ?? '').split(',').filter(Boolean)) {
    const [key, raw] = option.split('=') as [string, string];
    const n = Number(raw);
    if (key === 'times') rule.times = n;
    else if (key === 'rate') rule.rate = n;
    else if (key === 'retry-after') rule.retryAfter = n;
    else if (key === 'delay-ms') rule.delayMs = n;
    else throw new Error(`fault '${spec}': unknown option '${key}'`);
  }
  if ((kind === 'status' || kind === 'accept-then-status') && rule.status === undefined) throw new Error(`fault '${spec}': needs a status, e.g. ${kind}=503`);
  return rule;
}
