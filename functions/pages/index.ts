/**
 * The dashboard: its assets and one file per page, mounted on the app by
 * createApp.
 */
import type { App } from "../../lib/http/env.ts";
import { registerAssets } from "./assets.ts";
import { registerBackupsPage } from "./backups.tsx";
import { registerDrivePage } from "./drive.tsx";
import { registerDrivesPage } from "./drives.tsx";
import { registerLoginPage } from "./login.tsx";
import { registerOverviewPage } from "./overview.tsx";
import { registerSyncHistoryPage } from "./sync-history.tsx";
import { registerTrendsPage } from "./trends.tsx";

export function registerPages(app: App) {
  registerAssets(app);
  registerLoginPage(app);
  registerOverviewPage(app);
  registerBackupsPage(app);
  registerDrivesPage(app);
  registerDrivePage(app);
  registerSyncHistoryPage(app);
  registerTrendsPage(app);
}
