/**
 * The eight tables mirrored from the Pi, as the sync protocol sees them: the
 * Pi's key column and every data column with its MySQL type. The /sync
 * validator and SQL are built from this, and the Pi agent selects exactly
 * these columns. tests/schema.test.ts checks it against prisma/schema.prisma.
 *
 * Column types: datetime | double | int | bigint | varchar(n) | text |
 * mediumtext; a trailing "?" means NULL is allowed.
 */

export type TableName =
  | "profiles"
  | "vehicle_info"
  | "calibration_sessions"
  | "realtime_data"
  | "statistics"
  | "ai_recommendations"
  | "connection_log"
  | "alert_log";

export type ColumnType =
  | { kind: "datetime" | "double" | "int" | "bigint" }
  | { kind: "varchar"; length: number }
  | { kind: "text" | "mediumtext"; bytes: number };

export type Column = { name: string; type: ColumnType; nullable: boolean };

export type MirroredTable = {
  name: TableName;
  /** The Pi's primary-key column, stored on the server as `source_id`. */
  key: string;
  keyType: "int" | "text";
  /**
   * Rows change after they are written (text-keyed tables, and calibration
   * sessions, whose end_time is set later), so the agent must resend updates;
   * the others are append-only and sync by id.
   */
  mutable: boolean;
  columns: Column[];
};

function parseType(spec: string): { type: ColumnType; nullable: boolean } {
  const nullable = spec.endsWith("?");
  const base = nullable ? spec.slice(0, -1) : spec;
  const varchar = /^varchar\((\d+)\)$/.exec(base);
  if (varchar) return { nullable, type: { kind: "varchar", length: Number(varchar[1]) } };
  if (base === "text") return { nullable, type: { kind: "text", bytes: 65_535 } };
  if (base === "mediumtext") return { nullable, type: { kind: "mediumtext", bytes: 16_777_215 } };
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
  columns: Record<string, string>,
): MirroredTable {
  return {
    name,
    key,
    keyType,
    mutable,
    columns: Object.entries(columns).map(([col, spec]) => ({ name: col, ...parseType(spec) })),
  };
}

/** Parents first: profiles and vehicle_info are synced before the telemetry that names them. */
export const TABLES: readonly MirroredTable[] = [
  table("profiles", "id", "text", true, {
    name: "varchar(255)",
    description: "text?",
    polling_interval_ms: "int?",
    created_at: "datetime",
    updated_at: "datetime",
    data_source: "varchar(32)?",
  }),
  table("vehicle_info", "vin", "text", true, {
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
  table("calibration_sessions", "session_id", "int", true, {
    start_time: "datetime",
    end_time: "datetime?",
    notes: "text?",
    profile_id: "varchar(64)?",
    created_at: "datetime",
    data_source: "varchar(32)?",
  }),
  table("realtime_data", "id", "int", false, {
    timestamp: "datetime",
    parameter_name: "varchar(128)",
    value: "double",
    unit: "varchar(64)?",
    profile_id: "varchar(64)?",
    data_source: "varchar(32)?",
    drive_id: "int?",
  }),
  table("statistics", "id", "int", false, {
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
  table("ai_recommendations", "id", "int", false, {
    timestamp: "datetime",
    recommendation: "mediumtext",
    priority_rank: "int?",
    is_duplicate_of: "bigint?",
    profile_id: "varchar(64)?",
    created_at: "datetime",
  }),
  table("connection_log", "id", "int", false, {
    timestamp: "datetime",
    event_type: "varchar(64)",
    mac_address: "varchar(255)?",
    success: "int",
    error_message: "text?",
    retry_count: "int?",
    data_source: "varchar(32)?",
    drive_id: "int?",
  }),
  table("alert_log", "id", "int", false, {
    timestamp: "datetime",
    alert_type: "varchar(64)",
    parameter_name: "varchar(128)",
    value: "double",
    threshold: "double",
    profile_id: "varchar(64)?",
    drive_id: "int?",
  }),
];

export const TABLE_NAMES = TABLES.map((t) => t.name) as readonly TableName[];

export const TABLE_BY_NAME = Object.fromEntries(TABLES.map((t) => [t.name, t])) as Record<TableName, MirroredTable>;

/** Text keys are stored in source_id VARCHAR(64). */
export const TEXT_KEY_LENGTH = 64;

/** Provenance columns the server adds to every mirrored row. */
export const PROVENANCE_COLUMNS = ["source_id", "source_device", "synced_at", "sync_batch_id"] as const;
