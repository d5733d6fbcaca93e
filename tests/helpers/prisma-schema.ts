/**
 * A small parser for prisma/schema.prisma, enough for tests/schema.test.ts to
 * compare the data model with the migrated database and lib/tables.ts:
 * models, enums, scalar fields (type, optional, @id, @unique, @default,
 * @db.*), @@id, @@unique and @@index. Relation fields are skipped.
 */

export type PrismaField = {
  name: string;
  /** Scalar type (Int, BigInt, String, DateTime, Float, Json, …) or an enum's name. */
  type: string;
  optional: boolean;
  id: boolean;
  unique: boolean;
  /** The @default(...) argument as written, e.g. "autoincrement()", "now()", "0". */
  default?: string;
  /** The native type, e.g. { name: "VarChar", args: [64] } for @db.VarChar(64). */
  db?: { name: string; args: number[] };
};

type PrismaModel = {
  name: string;
  fields: PrismaField[];
  /** Primary-key columns, from @id or @@id. */
  id: string[];
  uniques: string[][];
  indexes: string[][];
};

export type PrismaSchema = { models: PrismaModel[]; enums: Record<string, string[]> };

/** Removes `//` and `///` comments outside string literals. */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== "\\") quoted = !quoted;
    if (!quoted && line[i] === "/" && line[i + 1] === "/") return line.slice(0, i);
  }
  return line;
}

/** The argument list of `@name(...)`, balancing parentheses; undefined when the attribute is absent. */
function attributeArgs(text: string, name: string): string | undefined {
  const at = new RegExp(`@${name.replace(".", "\\.")}(?![\\w.])`).exec(text);
  if (!at) return undefined;
  let i = at.index + at[0].length;
  if (text[i] !== "(") return "";
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    if (text[j] === "(") depth++;
    if (text[j] === ")" && --depth === 0) return text.slice(i + 1, j);
  }
  throw new Error(`unbalanced parentheses in ${text}`);
}

/** ["a", "b"] from `[a, b]` or `fields: [a, b], name: "x"`. */
function columnList(args: string): string[] {
  const list = /\[([^\]]*)\]/.exec(args);
  if (!list) throw new Error(`expected a [field, …] list in ${args}`);
  return list[1]!.split(",").map((s) => s.trim().replace(/\(.*\)$/, "")).filter(Boolean);
}

export function parsePrismaSchema(text: string): PrismaSchema {
  const models: PrismaModel[] = [];
  const enums: Record<string, string[]> = {};
  const blocks = [...text.split("\n").map(stripComment).join("\n").matchAll(/^\s*(model|enum)\s+(\w+)\s*\{([^}]*)\}/gm)];
  for (const [, kind, name, body] of blocks) {
    const lines = body!.split("\n").map((l) => l.trim()).filter(Boolean);
    if (kind === "enum") {
      enums[name!] = lines.filter((l) => !l.startsWith("@@")).map((l) => l.split(/\s+/)[0]!);
      continue;
    }
    const model: PrismaModel = { name: name!, fields: [], id: [], uniques: [], indexes: [] };
    for (const line of lines) {
      if (line.startsWith("@@")) {
        const [, attr, args] = /^@@(\w+)\((.*)\)$/.exec(line) ?? [];
        if (attr === "id") model.id = columnList(args!);
        else if (attr === "unique") model.uniques.push(columnList(args!));
        else if (attr === "index") model.indexes.push(columnList(args!));
        else throw new Error(`model ${name}: unsupported attribute ${line}`);
        continue;
      }
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!m) throw new Error(`model ${name}: cannot parse field ${line}`);
      const [, fieldName, type, list, optional, attrs] = m;
      if (list || attributeArgs(attrs!, "relation") !== undefined) continue;
      const field: PrismaField = { name: fieldName!, type: type!, optional: !!optional, id: /@id\b/.test(attrs!), unique: /@unique\b/.test(attrs!) };
      const def = attributeArgs(attrs!, "default");
      if (def !== undefined) field.default = def;
      const db = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs!);
      if (db) field.db = { name: db[1]!, args: db[2] ? db[2].split(",").map((a) => Number(a.trim())) : [] };
      model.fields.push(field);
    }
    models.push(model);
  }
  // A field whose type is another model is the scalar-free side of a relation.
  const modelNames = new Set(models.map((m) => m.name));
  for (const model of models) {
    model.fields = model.fields.filter((f) => !modelNames.has(f.type));
    const id = model.fields.filter((f) => f.id).map((f) => f.name);
    if (id.length) model.id = id;
  }
  return { models, enums };
}
