/** What a station tells about itself and its datasets (never any row). */
export interface ColumnInfo {
  name: string;
  type: "numeric" | "boolean" | "categorical";
  /** Categorical columns only, and only when the station releases them. */
  levels?: string[];
}

export interface DatasetInfo {
  name: string;
  columns: ColumnInfo[];
}

export interface StationInfo {
  name: string;
  protocolVersion: string;
  softwareVersion: string;
  /** The station's long-term Ed25519 identity key, hex. */
  identityKey: string;
  datasets: DatasetInfo[];
}

export const PROTOCOL_VERSION = "werkplaats.v1";
