/**
 * The twelve tables mirrored from the Pi, as the sync protocol sees them: the
 * Pi's key column, every data column with its MySQL type, and the identity
 * columns that tell one database's row from another's. The /sync validator
 * and SQL are built from this. tests/schema.test.ts checks it against
 * prisma/schema.prisma. Columns a Pi has beyond these are kept in each row's
 * `extra` JSON; tables beyond these, in unmapped_rows.
 *
 * Column types: datetime | double | int | bigint | varchar(n) | text |
 * mediumtext | json; a trailing "?" means NULL is allowed.
 */

export type TableName =
  | "profiles"
  | "vehicle_info"
  | "calibration_sessions"
  | "realtime_data"
  | "statistics"
  | "ai_recommendations"
  | "connection_log"
  | "alert_log"
  | "dtc_log"
  | "dtc_freeze_frame"
  | "drive_summary"
  | "battery_health_log";

export type ColumnType =
  | { kind: "datetime" | "double" | "int" | "bigint" }
  | { kind: "varchar"; length: number }
  | { kind: "text" | "mediumtext"; bytes: number }
  /** JSON sent as text (or as a JSON value), stored in a JSON column so it can be queried. */
  | { kind: "json"; bytes: number };

export type Column = { name: string; type: ColumnType; nullable: boolean };

export type MirroredTable = {
  name: TableName;
  /** The Pi's primary-key column, stored on the server as `source_id`. */
  key: string;
  keyType: "int" | "text";
  /**
   * Rows change after they are written (text-keyed tables; calibration
   * sessions, whose end_time is set later; DTCs, whose last_seen_timestamp
   * and status change while a code persists; drain events, closed later),
   * so the agent must resend updates; the others are append-only and sync by id.
   */
  mutable: boolean;
  /**
   * Values a Pi row never changes after it is written. A row whose key the
   * device already has on the server with other identity values comes from
   * another database (a new SD card, a fresh obd.db): /sync refuses it with
   * 409 instead of overwriting. Empty for profiles and vehicle_info, whose
   * text keys are snapshots that may legitimately be rewritten.
   */
  identity: string[];
  columns: Column[];
};

function parseType(spec: string): { type: ColumnType; nullable: boolean } {
  const nullable = spec.endsWith("?");
  const base = nullable ? spec.slice(0, -1) : spec;
  const varchar = /^varchar\((\d+)\)$/.exec(base);
  if (varchar) return { nullable, type: { kind: "varchar", length: Number(varchar[1]) } };
  if (base === "text") return { nullable, type: { kind: "text", bytes: 65_535 } };
  if (base === "mediumtext") return { nullable, type: { kind: "mediumtext", bytes: 16_777_215 } };
  // Bounded like MEDIUMTEXT; the body limit (MAX_SYNC_PAYLOAD_MB) is lower anyway.
  if (base === "json") return { nullable, type: { kind: "json", bytes: 16_777_215 } };
  if (base === "datetime" || base === "double" || base === "int" || base === "bigint") {
    return { nullable, type: { kind: base } };
  }
  throw new Error(`unknown column type ${spec}`);
}

function table(
  name: TableName,
  key: string,
  keyType: "int" | "text",
  mutable: boolean,
  identity: string[],
  columns: Record<string, string>,
): MirroredTable {
  const t: MirroredTable = {
    name,
    key,
    keyType,
    mutable,
    identity,
    columns: Object.entries(columns).map(([col, spec]) => ({ name: col, ...parseType(spec) })),
  };
  for (const c of identity) {
    if (!t.columns.some((col) => col.name === c && !col.nullable)) throw new Error(`${name}: identity column ${c} must be a NOT NULL column`);
  }
  for (const c of t.columns) if (SERVER_COLUMNS.has(c.name)) throw new Error(`${name}.${c.name}: the server's own column name`);
  return t;
}

/** Text keys are stored in source_id VARCHAR(64). */
export const TEXT_KEY_LENGTH = 64;

/** Provenance columns the server adds to every mirrored row. */
export const PROVENANCE_COLUMNS = ["source_id", "source_device", "synced_at", "sync_batch_id"] as const;

/** Each mirrored row's columns the server does not know (yet), as name -> value. */
export const EXTRA_COLUMN = "extra";

/** Names the server uses itself; no mirrored column may have one (a Pi column of that name lands in `extra`). */
const SERVER_COLUMNS = new Set<string>(["id", EXTRA_COLUMN, ...PROVENANCE_COLUMNS]);

/**
 * The key's second name: the Pi's Python client renames a key that is not
 * `id` (drive_id, drain_event_id, session_id, vin) to `id` when it sends a
 * row, so /sync accepts either. When a row has both, the Pi's name is the key.
 */
export const KEY_ALIAS = "id";

/** Parents first: profiles and vehicle_info are synced before the telemetry that names them; dtc_log before its freeze frames. */
export const TABLES: readonly MirroredTable[] = [
  table("profiles", "id", "text", true, [], {
    name: "varchar(255)",
    description: "text?",
    polling_interval_ms: "int?",
    created_at: "datetime",
    updated_at: "datetime",
    data_source: "varchar(32)?",
  }),
  table("vehicle_info", "vin", "text", true, [], {
    make: "varchar(255)?",
    model: "varchar(255)?",
    year: "int?",
    engine: "varchar(255)?",
    fuel_type: "varchar(255)?",
    transmission: "varchar(255)?",
    drive_type: "varchar(255)?",
    body_class: "varchar(255)?",
    plant_city: "varchar(255)?",
    plant_country: "varchar(255)?",
    raw_api_response: "mediumtext?",
    created_at: "datetime",
    updated_at: "datetime",
  }),
  table("calibration_sessions", "session_id", "int", true, ["start_time"], {
    start_time: "datetime",
    end_time: "datetime?",
    notes: "text?",
    profile_id: "varchar(64)?",
    created_at: "datetime",
    data_source: "varchar(32)?",
  }),
  table("realtime_data", "id", "int", false, ["timestamp", "parameter_name"], {
    timestamp: "datetime",
    parameter_name: "varchar(128)",
    value: "double",
    unit: "varchar(64)?",
    profile_id: "varchar(64)?",
    data_source: "varchar(32)?",
    drive_id: "int?",
  }),
  table("statistics", "id", "int", false, ["analysis_date", "parameter_name"], {
    parameter_name: "varchar(128)",
    analysis_date: "datetime",
    profile_id: "varchar(64)",
    max_value: "double?",
    min_value: "double?",
    avg_value: "double?",
    mode_value: "double?",
    std_1: "double?",
    std_2: "double?",
    outlier_min: "double?",
    outlier_max: "double?",
    sample_count: "int?",
    created_at: "datetime",
    data_source: "varchar(32)?",
    drive_id: "int?",
  }),
  table("ai_recommendations", "id", "int", false, ["timestamp"], {
    timestamp: "datetime",
    recommendation: "mediumtext",
    priority_rank: "int?",
    is_duplicate_of: "bigint?",
    profile_id: "varchar(64)?",
    created_at: "datetime",
  }),
  table("connection_log", "id", "int", false, ["timestamp", "event_type"], {
    timestamp: "datetime",
    event_type: "varchar(64)",
    mac_address: "varchar(255)?",
    success: "int",
    error_message: "text?",
    retry_count: "int?",
    data_source: "varchar(32)?",
    drive_id: "int?",
  }),
  table("alert_log", "id", "int", false, ["timestamp", "alert_type"], {
    timestamp: "datetime",
    alert_type: "varchar(64)",
    parameter_name: "varchar(128)",
    value: "double",
    threshold: "double",
    profile_id: "varchar(64)?",
    drive_id: "int?",
  }),
  table("dtc_log", "id", "int", true, ["dtc_code", "first_seen_timestamp"], {
    dtc_code: "varchar(32)",
    description: "text?",
    /** stored, pending or cleared on today's Pis; not an enum, so a status a later Pi adds is kept, not refused. */
    status: "varchar(16)",
    first_seen_timestamp: "datetime",
    last_seen_timestamp: "datetime",
    drive_id: "int?",
    data_source: "varchar(32)?",
  }),
  table("dtc_freeze_frame", "id", "int", false, ["captured_at_timestamp_utc"], {
    dtc_log_id: "bigint?",
    captured_at_timestamp_utc: "datetime",
    pid_responses_json: "json",
    vehicle_info_vin: "varchar(64)?",
    notes: "text?",
    data_source: "varchar(32)?",
  }),
  table("drive_summary", "drive_id", "int", false, ["drive_start_timestamp"], {
    drive_start_timestamp: "datetime",
    ambient_temp_at_start_c: "double?",
    starting_battery_v: "double?",
    barometric_kpa_at_start: "double?",
    data_source: "varchar(32)?",
  }),
  table("battery_health_log", "drain_event_id", "int", true, ["start_timestamp"], {
    start_timestamp: "datetime",
    end_timestamp: "datetime?",
    start_soc: "double",
    end_soc: "double?",
    start_vcell_v: "double?",
    end_vcell_v: "double?",
    runtime_seconds: "int?",
    ambient_temp_c: "double?",
    load_class: "varchar(32)",
    notes: "text?",
    data_source: "varchar(32)?",
  }),
];

export const TABLE_NAMES = TABLES.map((t) => t.name) as readonly TableName[];

export const TABLE_BY_NAME = Object.fromEntries(TABLES.map((t) => [t.name, t])) as Record<TableName, MirroredTable>;

const BY_NAME = new Map<string, MirroredTable>(TABLES.map((t) => [t.name, t]));
/** The mirrored table called `name`, if any; safe for any string (a request may name "constructor"). */
export const mirroredTable = (name: string): MirroredTable | undefined => BY_NAME.get(name);

/**
 * What a table the server does not know must be called for its rows to be
 * kept in unmapped_rows: a lower-case SQL identifier that a later migration
 * can create as it is.
 */
export const UNMAPPED_TABLE_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The Pi's own tables that stay on the Pi: hardware and boot bookkeeping,
 * data that only makes sense on the device, and the sync client's state.
 * The agent never sends them (nor its own tables, nor sqlite's).
 */
export const PI_ONLY_TABLES: readonly string[] = ["battery_log", "power_log", "static_data", "drive_counter", "pi_state", "startup_log", "sync_log"];
