import type { Provenance } from "../../common/provenance.js";

/** A result's JSON with its provenance last, so the numbers come first when a person reads it. */
export function withProvenance(json: object, provenance: Provenance | undefined): object {
  return provenance ? { ...json, provenance } : json;
}
