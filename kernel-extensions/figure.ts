import { writeFile } from "node:fs/promises";
import { escapeAttribute } from "./markup.js";

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

  /** The figure as HTML that survives export and sanitising front ends (see `svgAsImage`). */
  html(): string {
    return svgAsImage(this.svg, this.title);
  }

  toJSON(): object {
    return { kind: this.kind, title: this.title, summary: this.summary };
  }
}

/**
 * An SVG as an HTML <img> with a data URI. Notebooks showed figures as inline `image/svg+xml`,
 * which `jupyter nbconvert --to html` (Debian's 6.5) sanitises down to its text, leaving blank
 * space where every plot was; an <img> is kept by nbconvert, JupyterLab's sanitiser (data URIs
 * are allowed on images), VS Code and GitHub's viewer alike, and needs no rasteriser. The SVG
 * inside an <img> cannot run script or load anything, so a level named like markup stays inert.
 */
export function svgAsImage(svg: string, alt: string): string {
  const src = `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`;
  return `<img class="werkplaats-figure" src="${src}" alt="${escapeAttribute(alt)}" style="max-width: 100%; height: auto"/>`;
}

export function isFigure(x: unknown): x is Figure {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "figure" && typeof (x as { svg?: unknown }).svg === "string";
}
