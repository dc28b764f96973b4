import type { RecipientEntry } from '../recipient/recipient.js';
import { formatCount, formatDuration } from '../report/terminal.js';
import { substitute } from '../template/placeholders.js';
import type { Template } from '../template/template.js';

/**
 * What a real send is about to do, shown before the question on a terminal: recipients, batches,
 * channels, one message as it will read, and how long the app's queue needs to deliver it all.
 */

/** Messages a second an app's MT queue drains by default (reference: "20 messages per second by default"; the SDK docs say 25). */
export const DEFAULT_DRAIN_RATE = 20;

export interface SendPlan {
  readonly recipients: number;
  readonly batches: number;
  /** Recipients by channel they can be reached on (contact ids under `contact_id`), most first. */
  readonly channels: ReadonlyArray<readonly [string, number]>;
  /** The template's channel_priority_order, if any. */
  readonly channelOrder: readonly string[] | undefined;
  /** The first valid row's message after substitution. */
  readonly sample: string | undefined;
  readonly drainRate: number;
  /** SMS parts and cost, as one line (filled in by the SMS measurement when there is one). */
  readonly sms?: string;
}

const SAMPLE_CHARS = 400;

/** Collects the plan's figures as valid rows stream past (one map entry per channel: memory stays flat). */
export class PlanCollector {
  private readonly channels = new Map<string, number>();
  private first: RecipientEntry | undefined;

  add(entry: RecipientEntry): void {
    this.first ??= entry;
    const recipient = entry.recipient;
    if ('contact_id' in recipient) {
      this.channels.set('contact_id', (this.channels.get('contact_id') ?? 0) + 1);
      return;
    }
    const seen = new Set<string>();
    for (const { channel } of recipient.identified_by.channel_identities) {
      if (seen.has(channel)) continue;
      seen.add(channel);
      this.channels.set(channel, (this.channels.get(channel) ?? 0) + 1);
    }
  }

  plan(template: Template, recipients: number, batches: number, drainRate = DEFAULT_DRAIN_RATE): SendPlan {
    return {
      recipients,
      batches,
      channels: [...this.channels].sort((a, b) => b[1] - a[1]),
      channelOrder: template.body.channel_priority_order,
      sample: this.first === undefined ? undefined : renderSample(template, this.first),
      drainRate,
    };
  }
}

function renderSample(template: Template, entry: RecipientEntry): string {
  const message = substitute(template.body.message, entry.parameters ?? {}) as Record<string, unknown>;
  const text = (message.text_message as { text?: unknown } | undefined)?.text;
  const shown = typeof text === 'string' ? text : JSON.stringify(message);
  return shown.length > SAMPLE_CHARS ? `${shown.slice(0, SAMPLE_CHARS)}…` : shown;
}

function queueTime(seconds: number): string {
  if (seconds < 3600) return formatDuration(seconds * 1000);
  const hours = Math.floor(seconds / 3600);
  return `${hours} h ${Math.round((seconds - hours * 3600) / 60)} min`;
}

/** The plan as lines for a person. */
export function describePlan(plan: SendPlan): string[] {
  const channels = plan.channels.map(([name, count]) => `${name} ${formatCount(count)}`).join(', ');
  const lines = [
    'About to send:',
    `  recipients   ${formatCount(plan.recipients)} in ${formatCount(plan.batches)} batch${plan.batches === 1 ? '' : 'es'}`,
    `  channels     ${channels === '' ? '—' : channels}${plan.channelOrder === undefined ? '' : ` (priority: ${plan.channelOrder.join(' > ')})`}`,
  ];
  if (plan.sms !== undefined) lines.push(`  sms          ${plan.sms}`);
  lines.push(
    `  queue        about ${queueTime(plan.recipients / plan.drainRate)} for the app's queue to deliver them at ${plan.drainRate} messages/s (its default drain rate)`,
  );
  if (plan.sample !== undefined) lines.push('  first message, as the recipient reads it:', ...plan.sample.split('\n').map((line) => `    │ ${line}`));
  return lines;
}

/** The question itself; only a `y` or `yes` answer sends. */
export function confirmationQuestion(plan: SendPlan): string {
  return `Send to ${formatCount(plan.recipients)} recipients? [y/N] `;
}

export function isYes(answer: string | undefined): boolean {
  return answer !== undefined && /^\s*y(es)?\s*$/i.test(answer);
}
