/**
 * One line per Newton–Raphson / IRLS iteration of a federated model fit: the deviance, how much
 * it moved, and which stations answered. Pass `modelProgress()` as the fit's `onIteration`.
 */
import { formatValue } from "./markup.js";
import { notebookDisplay } from "./show.js";

/** What the fit reports after each iteration (field names read tolerantly). */
export interface IterationReport {
  iteration: number;
  deviance: number;
  /** Stations whose contribution is in this iteration's sum. */
  stations?: readonly string[];
  answered?: readonly string[];
  /** Stations that were asked but dropped out (the sum was recovered without them). */
  missing?: readonly string[];
  dropped?: readonly string[];
  /** Of all stations in the federation, for "3 of 4". */
  expected?: readonly string[];
  converged?: boolean;
  /** Relative change of the deviance, |dev − dev_old| / (|dev| + 0.1), as the fit computes it. */
  change?: number;
}

export function formatIteration(report: IterationReport, previousDeviance?: number): string {
  const answered = report.stations ?? report.answered ?? [];
  const missing = report.missing ?? report.dropped ?? (report.expected ? report.expected.filter((s) => !answered.includes(s)) : []);
  const total = report.expected?.length ?? answered.length + missing.length;
  const delta = previousDeviance !== undefined && Number.isFinite(previousDeviance) ? report.deviance - previousDeviance : undefined;
  const change = delta === undefined ? "" : delta === 0 ? " (no change)" : ` (change ${delta > 0 ? "+" : "−"}${formatValue(Math.abs(delta), 6)})`;
  const stations = answered.length > 0 ? ` · answered: ${answered.join(", ")} (${answered.length} of ${total})` : "";
  const dropped = missing.length > 0 ? ` · no answer: ${missing.join(", ")}` : "";
  const done = report.converged ? " · converged" : "";
  return `iteration ${report.iteration}: deviance ${formatValue(report.deviance, 6)}${change}${stations}${dropped}${done}`;
}

export interface ProgressOptions {
  /** Where lines go outside a notebook (default: stderr, so a script's stdout stays data). */
  write?: (line: string) => void;
  /** A heading line, e.g. the formula. */
  title?: string;
}

/**
 * An `onIteration` callback. In a notebook it keeps one output that grows line by line (a tslab
 * display updated in place); elsewhere it writes each line as it comes.
 */
export function modelProgress(options: ProgressOptions = {}): (report: IterationReport) => void {
  const tslab = notebookDisplay();
  const output = tslab?.newDisplay();
  const lines: string[] = options.title ? [options.title] : [];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (output === undefined && options.title) write(options.title);
  let previous: number | undefined;
  return (report) => {
    const line = formatIteration(report, previous);
    previous = report.deviance;
    if (output === undefined) {
      write(line);
      return;
    }
    lines.push(line);
    output.text(lines.join("\n"));
  };
}
