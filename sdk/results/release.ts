/**
 * Reading what the stations released (station-daemon/release/): the numbers in the layout of
 * common/release-layout.ts, which of them are withheld (1 primary, 2 secondary) and the stations'
 * notes. The SDK withholds nothing of its own: the stations decide, on the combined table, before
 * anything reaches this process.
 *
 * Results also accept the kernel layout without `withheld` (a federation whose stations release
 * the plain sum, and tests that build a result from numbers): they then lay it out with the same
 * common/release-layout.ts the stations use, with nothing withheld.
 */
import type { Computation } from "../../common/job.js";
import { PRIMARY, SECONDARY } from "../../common/disclosure.js";
import { releaseLayout, releaseLength } from "../../common/release-layout.js";

export interface ReleaseInput {
  /** The released numbers (or, without `withheld`, the plain combined kernel vector). */
  sum: Float64Array;
  /** Per number: 0 released, 1 withheld (primary), 2 withheld (secondary). */
  withheld?: Uint8Array;
  /** The stations' notes (perturbation, why cells are withheld). */
  notes?: string[];
}

export interface Released {
  values: Float64Array;
  withheld: Uint8Array;
  notes: string[];
}

/** The released layout of `computation`, from what the aggregation returned. */
export function readRelease(computation: Computation, input: ReleaseInput): Released {
  const length = releaseLength(computation);
  const notes = input.notes ?? [];
  if (length === undefined || (input.withheld !== undefined && input.sum.length === length)) {
    return { values: input.sum, withheld: input.withheld ?? new Uint8Array(input.sum.length), notes };
  }
  // The kernel layout: derive the released numbers, nothing withheld. minCellSize 1: no tail rule.
  const model = releaseLayout(computation, input.sum, 1);
  return { values: model.values.slice(0, model.length), withheld: new Uint8Array(model.length), notes };
}

export type WithheldKind = "primary" | "secondary";

export function withheldKind(code: number): WithheldKind | undefined {
  return code === PRIMARY ? "primary" : code === SECONDARY ? "secondary" : undefined;
}

/** The reason shown for a withheld entry, from the stations' notes where they give one. */
export function withheldReason(code: number, notes: readonly string[]): string {
  const prefix = code === PRIMARY ? "withheld (primary): " : "withheld (secondary): ";
  for (const note of notes) {
    const at = note.indexOf(prefix);
    if (at >= 0) return `${code === PRIMARY ? "primary" : "secondary"}: ${note.slice(at + prefix.length)}`;
  }
  return code === PRIMARY
    ? "primary: fewer people than the study's minimum cell size"
    : "secondary: withheld so that another withheld cell cannot be recovered from the totals";
}

/** Marks for a cell: `{ suppressed: true, withheld, reason }`, or nothing when released. */
export function marks(code: number, notes: readonly string[]): { suppressed?: true; withheld?: WithheldKind; reason?: string } {
  const kind = withheldKind(code);
  return kind ? { suppressed: true, withheld: kind, reason: withheldReason(code, notes) } : {};
}

/** Notes worth showing under a table: perturbation and other notes that are not about one cell. */
export function generalNotes(notes: readonly string[]): string[] {
  return notes.filter((n) => !/withheld \((primary|secondary)\)/.test(n));
}

/** Whether the stations perturbed the counts (cell-key perturbation). */
export function isPerturbed(notes: readonly string[]): boolean {
  return notes.some((n) => n.includes("perturb"));
}
