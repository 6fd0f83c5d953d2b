/**
 * Compares prisma/schema.prisma (read through Prisma's own schema parser, the WebAssembly build that needs no
 * engine download) with the tables of a migrated database: tables, columns, types, nullability and unique
 * keys, both ways. Migrations are hand-written SQL, so this is what catches them drifting from the schema.
 */
import wasm from '@prisma/prisma-schema-wasm';
import pg from 'pg';

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: string;
  type: string;
  isRequired: boolean;
  isList: boolean;
  isUnique: boolean;
  isId: boolean;
  nativeType: [string, string[]] | null;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { fields: string[] } | null;
  uniqueFields: string[][];
}

export function parseSchema(schema: string): DmmfModel[] {
  const dmmf = JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: schema }))) as {
    datamodel: { models: DmmfModel[] };
  };
  return dmmf.datamodel.models;
}

/** The Postgres type Prisma creates for a field, as information_schema spells it. */
function expectedType(field: DmmfField): string {
  const native = field.nativeType?.[0];
  if (native === 'Uuid') return 'uuid';
  if (native === 'Timestamptz') return 'timestamp with time zone';
  if (native === 'VarChar') return 'character varying';
  const byType: Record<string, string> = {
    String: 'text',
    Int: 'integer',
    BigInt: 'bigint',
    Boolean: 'boolean',
    DateTime: 'timestamp without time zone',
    Json: 'jsonb',
    Float: 'double precision',
    Decimal: 'numeric',
    Bytes: 'bytea',
  };
  return byType[field.type] ?? `unknown(${field.type})`;
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  is_nullable: 'YES' | 'NO';
}

/** Differences between the schema and the database, one readable line each; empty when they agree. */
export async function schemaDrift(schema: string, connectionString: string): Promise<string[]> {
  const models = parseSchema(schema);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows: columns } = await client.query<ColumnRow>(
      `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
    );
    const { rows: uniques } = await client.query<{ table_name: string; columns: string }>(
      `SELECT t.relname AS table_name,
              string_agg(a.attname::text, ',' ORDER BY array_position(i.indkey::int2[], a.attnum)) AS columns
       FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
       WHERE i.indisunique AND n.nspname = 'public' AND t.relname <> '_prisma_migrations'
       GROUP BY t.relname, i.indexrelid`,
    );
    const db = new Map<string, Map<string, ColumnRow>>();
    for (const c of columns) {
      if (!db.has(c.table_name)) db.set(c.table_name, new Map());
      db.get(c.table_name)?.set(c.column_name, c);
    }
    const problems: string[] = [];
    const tablesInSchema = new Set<string>();
    for (const model of models) {
      const table = model.dbName ?? model.name;
      tablesInSchema.add(table);
      const dbColumns = db.get(table);
      if (!dbColumns) {
        problems.push(`table ${table} (model ${model.name}) is in schema.prisma but not in the database`);
        continue;
      }
      const scalar = model.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum');
      const names = new Map(scalar.map((f) => [f.dbName ?? f.name, f]));
      for (const [column, field] of names) {
        const c = dbColumns.get(column);
        if (!c) {
          problems.push(`column ${table}.${column} is in schema.prisma but not in the database`);
          continue;
        }
        const type = expectedType(field);
        const actual = c.data_type === 'ARRAY' ? 'ARRAY' : c.data_type;
        if (field.isList ? actual !== 'ARRAY' : actual !== type) {
          problems.push(
            `column ${table}.${column} is ${actual} in the database but ${type} in schema.prisma`,
          );
        }
        const nullable = c.is_nullable === 'YES';
        if (nullable === field.isRequired) {
          problems.push(
            `column ${table}.${column} is ${nullable ? 'nullable' : 'NOT NULL'} in the database but ${field.isRequired ? 'required' : 'optional'} in schema.prisma`,
          );
        }
      }
      for (const column of dbColumns.keys()) {
        if (!names.has(column))
          problems.push(`column ${table}.${column} is in the database but not in schema.prisma`);
      }
      const fieldColumn = (name: string) => {
        const f = scalar.find((x) => x.name === name);
        return f?.dbName ?? name;
      };
      const expectedKeys = new Set<string>([
        ...scalar.filter((f) => f.isUnique || f.isId).map((f) => fieldColumn(f.name)),
        ...model.uniqueFields.map((set) => set.map(fieldColumn).join(',')),
        ...(model.primaryKey ? [model.primaryKey.fields.map(fieldColumn).join(',')] : []),
      ]);
      const actualKeys = new Set(uniques.filter((u) => u.table_name === table).map((u) => u.columns));
      for (const key of expectedKeys) {
        if (!actualKeys.has(key))
          problems.push(`unique key ${table}(${key}) is in schema.prisma but not in the database`);
      }
      for (const key of actualKeys) {
        if (!expectedKeys.has(key))
          problems.push(`unique key ${table}(${key}) is in the database but not in schema.prisma`);
      }
    }
    for (const table of db.keys()) {
      if (!tablesInSchema.has(table))
        problems.push(`table ${table} is in the database but not in schema.prisma`);
    }
    return problems;
  } finally {
    await client.end();
  }
}
