/**
 * The Pi's SQLite schema (EclipseTuner's DDL, in its legacy, modern and
 * current shapes) and what an existing file says about itself, so a run can
 * create a file the Pi could have written or continue one where its story
 * left off.
 */
import { openDb, type SqliteDb } from "../../client/sqlite.ts";
import { micros } from "./writer.ts";

/**
 * legacy: an old Pi (no profiles, no data_source/drive_id); modern: one with
 * them; current: today's Pi app after its own schema upgrade, with its DTC,
 * drive-summary and battery-health tables and its Pi-only bookkeeping.
 */
export type PiSchema = "legacy" | "modern" | "current";

/** The Pi's DDL (EclipseTuner), idempotent. Modern adds data_source and drive_id where newer Pis have them. */
export function tableSql(schema: PiSchema): string {
  if (schema === "current") return CURRENT_SQL;
  const legacy = schema === "legacy";
  const source = legacy ? "" : "\n    data_source TEXT DEFAULT 'real',";
  const drive = legacy ? "" : "\n    drive_id INTEGER,";
  const profiles = legacy
    ? ""
    : `
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    polling_interval_ms INTEGER DEFAULT 1000,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    data_source TEXT DEFAULT 'real'
);`;
  return `
CREATE TABLE IF NOT EXISTS vehicle_info (
    vin TEXT PRIMARY KEY,
    make TEXT,
    model TEXT,
    year INTEGER,
    engine TEXT,
    fuel_type TEXT,
    transmission TEXT,
    drive_type TEXT,
    body_class TEXT,
    plant_city TEXT,
    plant_country TEXT,
    raw_api_response TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);${profiles}
CREATE TABLE IF NOT EXISTS static_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vin TEXT NOT NULL,
    parameter_name TEXT NOT NULL,
    value TEXT,
    unit TEXT,
    queried_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_static_data_vehicle FOREIGN KEY (vin)
        REFERENCES vehicle_info(vin)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS realtime_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL,
    parameter_name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT,
    profile_id TEXT,${source}${drive}
    CONSTRAINT FK_realtime_data_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS statistics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parameter_name TEXT NOT NULL,
    analysis_date DATETIME NOT NULL,
    profile_id TEXT NOT NULL,
    max_value REAL,
    min_value REAL,
    avg_value REAL,
    mode_value REAL,
    std_1 REAL,
    std_2 REAL,
    outlier_min REAL,
    outlier_max REAL,
    sample_count INTEGER,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,${source}${drive}
    CONSTRAINT FK_statistics_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS ai_recommendations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    recommendation TEXT NOT NULL,
    priority_rank INTEGER DEFAULT 3
        CHECK (priority_rank >= 1 AND priority_rank <= 5),
    is_duplicate_of INTEGER,
    profile_id TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_ai_recommendations_duplicate FOREIGN KEY (is_duplicate_of)
        REFERENCES ai_recommendations(id)
        ON DELETE SET NULL,
    CONSTRAINT FK_ai_recommendations_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS calibration_sessions (
    session_id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    end_time DATETIME,
    notes TEXT,
    profile_id TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,${source}
    CONSTRAINT FK_calibration_sessions_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS alert_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    alert_type TEXT NOT NULL,
    parameter_name TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    profile_id TEXT,${drive}
    CONSTRAINT FK_alert_log_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS connection_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    mac_address TEXT,
    success INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0${legacy ? "" : ",\n    data_source TEXT DEFAULT 'real',\n    drive_id INTEGER"}
);
CREATE TABLE IF NOT EXISTS battery_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    voltage REAL NOT NULL,
    warning_threshold REAL,
    critical_threshold REAL
);
CREATE TABLE IF NOT EXISTS power_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    power_source TEXT NOT NULL,
    on_ac_power INTEGER NOT NULL DEFAULT 1
);`;
}

const DATA_SOURCE_CHECK = "CHECK (data_source IN ('real','replay','physics_sim','fixture'))";
const ISO_NOW = "(strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))";

/**
 * Today's Pi, as current_schema.db has it (its sqlite_master, comments left
 * out): the tables an older Pi had, upgraded in place (data_source NOT NULL
 * with its CHECK, drive_id added at the end), and the tables the upgrade
 * added. battery_log stays from the modern Pi it was upgraded from.
 */
const CURRENT_SQL = `
CREATE TABLE IF NOT EXISTS realtime_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL,
    parameter_name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT,
    profile_id TEXT, data_source TEXT NOT NULL DEFAULT 'real' ${DATA_SOURCE_CHECK}, drive_id INTEGER,
    CONSTRAINT FK_realtime_data_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS connection_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    mac_address TEXT,
    success INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0
, data_source TEXT NOT NULL DEFAULT 'real' ${DATA_SOURCE_CHECK}, drive_id INTEGER);
CREATE TABLE IF NOT EXISTS statistics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parameter_name TEXT NOT NULL,
    analysis_date DATETIME NOT NULL,
    profile_id TEXT NOT NULL,
    max_value REAL,
    min_value REAL,
    avg_value REAL,
    mode_value REAL,
    std_1 REAL,
    std_2 REAL,
    outlier_min REAL,
    outlier_max REAL,
    sample_count INTEGER,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, data_source TEXT NOT NULL DEFAULT 'real' ${DATA_SOURCE_CHECK}, drive_id INTEGER,
    CONSTRAINT FK_statistics_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS vehicle_info (
    vin TEXT PRIMARY KEY,
    make TEXT,
    model TEXT,
    year INTEGER,
    engine TEXT,
    fuel_type TEXT,
    transmission TEXT,
    drive_type TEXT,
    body_class TEXT,
    plant_city TEXT,
    plant_country TEXT,
    raw_api_response TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    polling_interval_ms INTEGER DEFAULT 1000,
    data_source TEXT NOT NULL DEFAULT 'real'
        ${DATA_SOURCE_CHECK},
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS static_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vin TEXT NOT NULL,
    parameter_name TEXT NOT NULL,
    value TEXT,
    unit TEXT,
    queried_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_static_data_vehicle FOREIGN KEY (vin)
        REFERENCES vehicle_info(vin)
        ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS ai_recommendations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    recommendation TEXT NOT NULL,
    priority_rank INTEGER DEFAULT 3
        CHECK (priority_rank >= 1 AND priority_rank <= 5),
    is_duplicate_of INTEGER,
    profile_id TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_ai_recommendations_duplicate FOREIGN KEY (is_duplicate_of)
        REFERENCES ai_recommendations(id)
        ON DELETE SET NULL,
    CONSTRAINT FK_ai_recommendations_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS calibration_sessions (
    session_id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    end_time DATETIME,
    notes TEXT,
    profile_id TEXT,
    data_source TEXT NOT NULL DEFAULT 'real'
        ${DATA_SOURCE_CHECK},
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT FK_calibration_sessions_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS alert_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL
        DEFAULT ${ISO_NOW},
    alert_type TEXT NOT NULL,
    parameter_name TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    profile_id TEXT,
    drive_id INTEGER,
    CONSTRAINT FK_alert_log_profile FOREIGN KEY (profile_id)
        REFERENCES profiles(id)
        ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS battery_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    voltage REAL NOT NULL,
    warning_threshold REAL,
    critical_threshold REAL
);
CREATE TABLE IF NOT EXISTS power_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME NOT NULL
        DEFAULT ${ISO_NOW},
    event_type TEXT NOT NULL,
    power_source TEXT NOT NULL,
    on_ac_power INTEGER NOT NULL DEFAULT 1,
    vcell REAL
);
CREATE TABLE IF NOT EXISTS drive_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_drive_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS startup_log (
    boot_id TEXT PRIMARY KEY,
    prior_boot_clean INTEGER,
    prior_last_entry_ts TEXT,
    current_boot_first_entry_ts TEXT,
    prior_boot_last_stage TEXT,
    prior_boot_reason TEXT,
    recorded_at TEXT NOT NULL
        DEFAULT ${ISO_NOW}
);
CREATE TABLE IF NOT EXISTS dtc_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dtc_code TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL
        CHECK (status IN ('stored','pending','cleared')),
    first_seen_timestamp DATETIME NOT NULL
        DEFAULT ${ISO_NOW},
    last_seen_timestamp DATETIME NOT NULL
        DEFAULT ${ISO_NOW},
    drive_id INTEGER,
    data_source TEXT NOT NULL DEFAULT 'real'
        ${DATA_SOURCE_CHECK}
);
CREATE TABLE IF NOT EXISTS dtc_freeze_frame (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dtc_log_id INTEGER,
    captured_at_timestamp_utc DATETIME NOT NULL
        DEFAULT ${ISO_NOW},
    pid_responses_json TEXT NOT NULL DEFAULT '{}',
    vehicle_info_vin TEXT,
    notes TEXT,
    data_source TEXT NOT NULL DEFAULT 'real'
        ${DATA_SOURCE_CHECK}
);
CREATE TABLE IF NOT EXISTS drive_summary (
    drive_id INTEGER PRIMARY KEY,
    drive_start_timestamp DATETIME NOT NULL
        DEFAULT ${ISO_NOW},
    ambient_temp_at_start_c REAL,
    starting_battery_v REAL,
    barometric_kpa_at_start REAL,
    data_source TEXT NOT NULL DEFAULT 'real'
        ${DATA_SOURCE_CHECK}
);
CREATE TABLE IF NOT EXISTS battery_health_log (
    drain_event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_timestamp TEXT NOT NULL
        DEFAULT ${ISO_NOW},
    end_timestamp TEXT,
    start_soc REAL NOT NULL,
    end_soc REAL,
    start_vcell_v REAL,
    end_vcell_v REAL,
    runtime_seconds INTEGER,
    ambient_temp_c REAL,
    load_class TEXT NOT NULL DEFAULT 'production'
        CHECK (load_class IN ('production','test','sim')),
    notes TEXT,
    data_source TEXT NOT NULL DEFAULT 'real'
        ${DATA_SOURCE_CHECK}
);
CREATE TABLE IF NOT EXISTS pi_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    no_new_drives INTEGER NOT NULL DEFAULT 0
);`;

const INDEXES = [
  ["IX_realtime_data_timestamp", "realtime_data", "timestamp"],
  ["IX_realtime_data_profile", "realtime_data", "profile_id"],
  ["IX_realtime_data_param_timestamp", "realtime_data", "parameter_name, timestamp"],
  ["IX_statistics_analysis_date", "statistics", "analysis_date"],
  ["IX_statistics_profile", "statistics", "profile_id"],
  ["IX_ai_recommendations_duplicate", "ai_recommendations", "is_duplicate_of"],
  ["IX_alert_log_profile", "alert_log", "profile_id"],
  ["IX_alert_log_timestamp", "alert_log", "timestamp"],
  ["IX_connection_log_event_type", "connection_log", "event_type"],
  ["IX_connection_log_timestamp", "connection_log", "timestamp"],
  ["IX_battery_log_timestamp", "battery_log", "timestamp"],
  ["IX_battery_log_event_type", "battery_log", "event_type"],
  ["IX_power_log_timestamp", "power_log", "timestamp"],
  ["IX_power_log_event_type", "power_log", "event_type"],
] as const;

/** The indexes the current Pi's upgrade added. */
const CURRENT_INDEXES = [
  ["IX_realtime_data_drive_id", "realtime_data", "drive_id"],
  ["IX_connection_log_drive_id", "connection_log", "drive_id"],
  ["IX_statistics_drive_id", "statistics", "drive_id"],
  ["IX_alert_log_drive_id", "alert_log", "drive_id"],
  ["IX_dtc_log_drive_id", "dtc_log", "drive_id"],
  ["IX_dtc_log_dtc_code", "dtc_log", "dtc_code"],
  ["IX_dtc_freeze_frame_dtc_log_id", "dtc_freeze_frame", "dtc_log_id"],
  ["IX_battery_health_log_start", "battery_health_log", "start_timestamp"],
] as const;

export function indexSql({ realtime = true, schema = "modern" as PiSchema } = {}): string {
  return [...INDEXES, ...(schema === "current" ? CURRENT_INDEXES : [])]
    .filter(([, table]) => realtime || table !== "realtime_data")
    .map(([name, table, columns]) => `CREATE INDEX IF NOT EXISTS ${name}\n    ON ${table}(${columns});`)
    .join("\n");
}

/** Creates the EclipseTuner tables and indexes that are missing (never sync_log: the sync agent owns it). */
export function createEclipseSchema(db: SqliteDb, opts: { legacy?: boolean; current?: boolean } = {}): void {
  const schema: PiSchema = opts.current ? "current" : opts.legacy ? "legacy" : "modern";
  db.exec(tableSql(schema));
  db.exec(indexSql({ schema }));
}

type Shape = "none" | PiSchema;

export function shapeOf(db: SqliteDb): Shape {
  const cols = db.prepare("SELECT name FROM pragma_table_info('realtime_data')").all().map((r) => r.name);
  if (cols.length === 0) return "none";
  if (!cols.includes("drive_id")) return "legacy";
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dtc_log'").get() ? "current" : "modern";
}

export function tableNames(db: SqliteDb): string[] {
  return db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'sync_log' ORDER BY rowid")
    .all()
    .map((r) => String(r.name));
}

/** Where the file's story left off: the next drive number and the latest time any row mentions. */
export function resumePoint(db: SqliteDb, shape: Shape): { nextDrive: number; lastUs: number | undefined } {
  if (shape === "none") return { nextDrive: 1, lastUs: undefined };
  // Pis mix `T…Z` and space forms, which sort differently as text, so compare whole seconds in one form,
  // skipping anything that is not a datetime at all (a file may hold rows the server will quarantine).
  const last = db
    .prepare(
      `SELECT max(replace(substr(timestamp, 1, 19), 'T', ' ')) AS t FROM (
         SELECT timestamp FROM connection_log UNION ALL SELECT timestamp FROM realtime_data)
       WHERE timestamp GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'`,
    )
    .get()?.t;
  const lastUs = typeof last === "string" ? micros(last) : undefined;
  const driveSql =
    shape === "current"
      ? "SELECT max(coalesce((SELECT max(drive_id) FROM connection_log), 0), coalesce((SELECT max(last_drive_id) FROM drive_counter), 0)) AS n"
      : shape === "modern"
        ? "SELECT max(coalesce((SELECT max(drive_id) FROM connection_log), 0), (SELECT count(*) FROM connection_log WHERE event_type = 'drive_start')) AS n"
        : "SELECT count(*) AS n FROM connection_log WHERE event_type = 'drive_start'";
  return {
    nextDrive: Number(db.prepare(driveSql).get()!.n) + 1,
    lastUs: lastUs === undefined ? undefined : lastUs + 1e6,
  };
}

/**
 * Opens (or creates) a Pi file for writing the way the Pi's Python logger
 * does: foreign keys unenforced. better-sqlite3 enforces them by default and
 * bun:sqlite does not; a legacy file's keys point at a profiles table that
 * does not exist, so enforcing them would make every insert fail under Node.
 */
export function openPiFile(path: string): SqliteDb {
  const db = openDb(path, { create: true });
  db.exec("PRAGMA foreign_keys = OFF");
  return db;
}
