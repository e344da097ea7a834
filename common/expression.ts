/**
 * The where-expression AST. The SDK parses text into it, it travels in the proto as
 * structured messages, and the station interprets it over its own columns. Nothing is ever
 * turned back into JS, SQL or shell text by pasting user input.
 */
export type Literal =
  | { kind: "number"; value: number }
  | { kind: "string"; value: string }
  | { kind: "bool"; value: boolean };

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

export type Expr =
  /** A boolean column used as a predicate: `lives_alone`. */
  | { kind: "column"; name: string }
  /** `age >= 65`, `sex == "M"`; the parser normalises `65 <= age` to column-first. */
  | { kind: "compare"; column: string; op: CompareOp; value: Literal }
  | { kind: "and"; args: Expr[] }
  | { kind: "or"; args: Expr[] }
  | { kind: "not"; arg: Expr }
  /** `region in ("Noord", "Zuid")`; `not in` is `not` around this. */
  | { kind: "in"; column: string; values: Literal[] }
  /** `income is missing`; `is not missing` is `not` around this. */
  | { kind: "missing"; column: string };

/** Every column an expression refers to, in first-seen order. */
export function columnsOf(expr: Expr): string[] {
  const seen: string[] = [];
  const visit = (e: Expr): void => {
    switch (e.kind) {
      case "column":
        if (!seen.includes(e.name)) seen.push(e.name);
        return;
      case "compare":
      case "in":
      case "missing":
        if (!seen.includes(e.column)) seen.push(e.column);
        return;
      case "and":
      case "or":
        e.args.forEach(visit);
        return;
      case "not":
        visit(e.arg);
        return;
    }
  };
  visit(expr);
  return seen;
}
