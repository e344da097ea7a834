/**
 * Escaping and element building shared by the HTML tables and the SVG plots. Every piece of
 * text that can come from an analyst or a station (dataset, column and level names, where-
 * expressions, refusal reasons) passes through `escapeText`/`escapeAttribute`: a level named
 * `<script>` must show as text, not run in the reader's browser.
 */

/** Escape character data for HTML and XML. */
export function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}

/** Escape an attribute value (always written in double quotes). */
export function escapeAttribute(s: string): string {
  return escapeText(s).replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * Characters XML 1.0 forbids even when escaped (C0 controls other than tab, newline and
 * carriage return; lone surrogates; U+FFFE/U+FFFF). They are replaced so output always parses.
 */
function dropInvalidXmlChars(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

export type Attributes = Record<string, string | number | undefined | null | false>;

function formatAttribute(value: string | number): string {
  if (typeof value === "number") return Number.isFinite(value) ? String(Math.round(value * 100) / 100) : "0";
  return escapeAttribute(dropInvalidXmlChars(value));
}

/** An element with escaped attributes; `children` are already markup (use `text()` for text). */
export function element(name: string, attributes: Attributes = {}, children: string | readonly string[] = ""): string {
  const attrs = Object.entries(attributes)
    .filter(([, v]) => v !== undefined && v !== null && v !== false)
    .map(([k, v]) => ` ${k}="${formatAttribute(v as string | number)}"`)
    .join("");
  const inner = typeof children === "string" ? children : children.join("");
  return inner === "" && VOID_OK.has(name) ? `<${name}${attrs}/>` : `<${name}${attrs}>${inner}</${name}>`;
}

/** Elements written self-closing when empty (valid in SVG; in HTML only void elements). */
const VOID_OK = new Set(["rect", "line", "circle", "path", "polyline", "polygon", "br"]);

/** Text content, escaped. */
export function text(s: string): string {
  return escapeText(dropInvalidXmlChars(s));
}

/** A number for a reader: integers as is, others to `digits` significant decimals. */
export function formatValue(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined) return "";
  if (Number.isNaN(x)) return "NA";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  if (Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e7)) return x.toExponential(2);
  // Small values keep two significant digits rather than rounding to 0.00.
  if (abs < 10 ** -digits * 10) return x.toPrecision(2);
  return x.toFixed(digits);
}
