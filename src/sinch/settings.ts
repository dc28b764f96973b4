import { UsageError } from '../exit-codes.js';

export const REGIONS = ['us', 'eu', 'br'] as const;
export type Region = (typeof REGIONS)[number];
export type ApiForm = 'v1' | 'v1beta';

/** Where and as whom to call the API. The secret is held here and nowhere else. */
export interface ApiSettings {
  readonly keyId: string;
  readonly keySecret: string;
  readonly projectId: string;
  readonly region: Region;
  readonly api: ApiForm;
  readonly baseUrl: string;
  readonly authUrl: string;
}

/** The flags as commander gives them: flag > environment (commander's `.env()`) > default. */
export interface RawApiSettings {
  readonly keyId?: string;
  readonly keySecretFile?: string;
  readonly projectId?: string;
  readonly region?: string;
  readonly api?: string;
  readonly baseUrl?: string;
  readonly authUrl?: string;
}

/**
 * Check the settings. The key secret comes from `secretFromFile` (--key-secret-file, already read
 * and checked for its mode) or the SINCH_KEY_SECRET environment variable; never from a flag.
 */
export function resolveApiSettings(raw: RawApiSettings, env: Readonly<Record<string, string | undefined>>, secretFromFile: string | undefined): ApiSettings {
  const missing: string[] = [];
  const keySecret = secretFromFile ?? env.SINCH_KEY_SECRET;
  if (!raw.keyId) missing.push('SINCH_KEY_ID (or --key-id)');
  if (!keySecret) missing.push('SINCH_KEY_SECRET (or --key-secret-file FILE)');
  if (!raw.projectId) missing.push('SINCH_PROJECT_ID (or --project-id)');
  if (missing.length > 0) {
    throw new UsageError(`missing credentials: set ${missing.join(', ')}`, 'the access key and project id are on the Access Keys page of the Sinch dashboard');
  }
  const region = (raw.region ?? 'us').toLowerCase();
  if (!(REGIONS as readonly string[]).includes(region)) throw new UsageError(`--region '${raw.region}' must be one of ${REGIONS.join(', ')}`);
  const api = raw.api ?? 'v1';
  if (api !== 'v1' && api !== 'v1beta') throw new UsageError(`--api '${raw.api}' must be v1 or v1beta`);
  const baseUrl = (raw.baseUrl ?? `https://${region}.conversationbatch.api.sinch.com`).replace(/\/+$/, '');
  const authUrl = raw.authUrl ?? 'https://auth.sinch.com/oauth2/token';
  for (const [flag, url] of [['--base-url', baseUrl], ['--auth-url', authUrl]] as const) {
    if (!/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`${flag} '${url}' is not an http(s) URL`);
  }
  return { keyId: raw.keyId!, keySecret: keySecret!, projectId: raw.projectId!, region: region as Region, api, baseUrl, authUrl };
}
