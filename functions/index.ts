/**
 * The whole app: the bare app from lib/http with every endpoint mounted on it.
 * One file per endpoint; no logic here. The entries (scripts/) and the tests
 * build the app with this one function.
 */
import { newApp } from "../lib/http/app.ts";
import type { App, Deps } from "../lib/http/env.ts";
import { registerAnalyses } from "./analyses.ts";
import { registerAnalyze } from "./analyze.ts";
import { registerBackup } from "./backup.ts";
import { registerBackupDownload } from "./backup-download.ts";
import { registerBackups } from "./backups.ts";
import { registerDeviceReadingsCsv } from "./device-readings-csv.ts";
import { registerDeviceSeries } from "./device-series.ts";
import { registerDeviceStatus } from "./device-status.ts";
import { registerDocs } from "./docs.ts";
import { registerDrive } from "./drive.ts";
import { registerDriveSeries } from "./drive-series.ts";
import { registerDriveWindowStats } from "./drive-window-stats.ts";
import { registerDrives } from "./drives.ts";
import { registerHealth } from "./health.ts";
import { registerMetrics } from "./metrics.ts";
import { registerPages } from "./pages/index.ts";
import { registerPing } from "./ping.ts";
import { registerSync } from "./sync.ts";
import { registerSyncState } from "./sync-state.ts";

export function createApp(deps: Deps): App {
  const app = newApp(deps);
  registerPing(app);
  registerHealth(app);
  registerSync(app);
  registerSyncState(app);
  registerBackup(app);
  registerBackups(app);
  registerBackupDownload(app);
  registerAnalyze(app);
  registerAnalyses(app);
  registerDrives(app);
  registerDrive(app);
  registerDriveSeries(app);
  registerDriveWindowStats(app);
  registerDeviceStatus(app);
  registerDeviceSeries(app);
  registerDeviceReadingsCsv(app);
  registerMetrics(app);
  registerDocs(app);
  registerPages(app);
  return app;
}
