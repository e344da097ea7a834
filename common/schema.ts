/** What a station tells about itself and its datasets (never any row). */
export interface ColumnInfo {
  name: string;
  type: "numeric" | "boolean" | "categorical";
  /** Categorical columns only, and only when the station releases them. */
  levels?: string[];
  /** True when the station's column has no missing value; absent when it has some or cannot tell. */
  complete?: boolean;
}

export interface DatasetInfo {
  name: string;
  columns: ColumnInfo[];
  /**
   * SHA-256 (hex) of the station's loaded snapshot of the dataset over the released columns
   * (station-daemon/data/fingerprint.ts): equal means the same data. Absent when the station
   * cannot fingerprint it (a live database table) or predates fingerprints.
   */
  fingerprint?: string;
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
