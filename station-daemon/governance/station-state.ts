/**
 * What a station remembers between restarts, apart from its audit log: the nonces and job ids it
 * has seen (DIR/seen-requests.log, request-auth.ts) and the secret its dataset fingerprints are
 * keyed with (data/fingerprint.ts). Opened once, after the audit log, because how the previous
 * run ended (the audit log knows) decides whether requests signed before this start are trusted.
 */
import { fingerprintKey } from "../data/fingerprint.js";
import type { AuditLog } from "./audit-log.js";
import { ReplayCache, SeenJobs, SeenStore } from "./request-auth.js";

export interface StationState {
  replayCache: ReplayCache;
  seenJobs: SeenJobs;
  fingerprintKey: Uint8Array;
  close(): void;
}

export function openStationState(options: { dir: string; identity: { secretKey: Uint8Array }; audit: AuditLog; now?: number }): StationState {
  const now = options.now ?? Date.now();
  const store = SeenStore.open(options.dir, now);
  // After an unclean stop the newest nonces may not have reached the disk (they are written, not
  // fsynced): refuse everything signed before this start rather than risk accepting a replay.
  const replayCache = new ReplayCache(100_000, { store, ...(options.audit.opened.unclean ? { notBefore: now } : {}) });
  return {
    replayCache,
    seenJobs: new SeenJobs(store),
    fingerprintKey: fingerprintKey(options.dir, options.identity.secretKey),
    close: () => store.close(),
  };
}
