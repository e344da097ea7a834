import { writeFile } from "node:fs/promises";

/**
 * A drawn plot: the SVG for notebooks and files, and a one-paragraph text for terminals and
 * scheduled scripts, where an SVG would only be noise.
 */
export class Figure {
  readonly kind = "figure";
  readonly title: string;
  readonly svg: string;
  readonly summary: string;

  constructor(options: { title: string; svg: string; summary: string }) {
    this.title = options.title;
    this.svg = options.svg;
    this.summary = options.summary;
  }

  /** Write the SVG, e.g. for a report built by a nightly script. */
  async save(file: string): Promise<void> {
    await writeFile(file, this.svg);
  }

  toString(): string {
    return `[figure] ${this.title}\n${this.summary}`;
  }

  toJSON(): object {
    return { kind: this.kind, title: this.title, summary: this.summary };
  }
}

export function isFigure(x: unknown): x is Figure {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "figure" && typeof (x as { svg?: unknown }).svg === "string";
}
