import type { SmsMeasure } from '../sms/sms-encoding.js';

export type PreviewReason = 'first row' | 'longest' | 'most SMS parts';

/** One rendered message of `--preview`. */
export interface PreviewMessage {
  readonly line: number;
  readonly reasons: readonly PreviewReason[];
  /** The message as the recipient reads it. */
  readonly text: string;
  readonly sms: SmsMeasure | undefined;
}

interface Candidate {
  readonly line: number;
  readonly text: string;
  readonly sms: SmsMeasure | undefined;
}

/** Ranks by SMS parts, then length; the earlier row wins a tie. */
function before(a: Candidate, b: Candidate): boolean {
  const parts = (a.sms?.parts ?? 0) - (b.sms?.parts ?? 0);
  if (parts !== 0) return parts > 0;
  if (a.text.length !== b.text.length) return a.text.length > b.text.length;
  return a.line < b.line;
}

/**
 * Picks the rows of `--preview N` as they stream past, in memory that does not grow with the
 * file: the first row, the longest, then the rows needing most SMS parts (the next longest where
 * nothing is SMS).
 */
export class PreviewPicker {
  private first: Candidate | undefined;
  private longest: Candidate | undefined;
  /** The best-ranked rows, best first; a few more than asked for, for rows already picked. */
  private readonly ranked: Candidate[] = [];

  constructor(private readonly count: number) {}

  offer(line: number, text: string, sms: SmsMeasure | undefined): void {
    const candidate: Candidate = { line, text, sms };
    this.first ??= candidate;
    if (this.longest === undefined || text.length > this.longest.text.length) this.longest = candidate;
    const keep = this.count + 2;
    if (this.ranked.length >= keep && !before(candidate, this.ranked[this.ranked.length - 1]!)) return;
    let at = this.ranked.length;
    while (at > 0 && before(candidate, this.ranked[at - 1]!)) at--;
    this.ranked.splice(at, 0, candidate);
    if (this.ranked.length > keep) this.ranked.pop();
  }

  picked(): PreviewMessage[] {
    const chosen = new Map<number, { candidate: Candidate; reasons: PreviewReason[] }>();
    const pick = (candidate: Candidate | undefined, reason: PreviewReason): void => {
      if (candidate === undefined) return;
      const known = chosen.get(candidate.line);
      if (known !== undefined) {
        if (!known.reasons.includes(reason)) known.reasons.push(reason);
        return;
      }
      if (chosen.size < this.count) chosen.set(candidate.line, { candidate, reasons: [reason] });
    };
    pick(this.first, 'first row');
    pick(this.longest, 'longest');
    for (const candidate of this.ranked) {
      if (chosen.size >= this.count) break;
      pick(candidate, candidate.sms !== undefined ? 'most SMS parts' : 'longest');
    }
    // The row needing most parts says so, even when it was picked first for another reason.
    const top = this.ranked[0];
    const topChoice = top?.sms !== undefined ? chosen.get(top.line) : undefined;
    if (topChoice !== undefined && !topChoice.reasons.includes('most SMS parts')) topChoice.reasons.push('most SMS parts');
    return [...chosen.values()].map(({ candidate, reasons }) => ({ line: candidate.line, reasons, text: candidate.text, sms: candidate.sms }));
  }
}
