/**
 * Proto3 JSON type checks for HTTP bodies, against the API's own descriptors (`src/gen/switchboard.binpb`,
 * read with `@bufbuild/protobuf`). The HTTP mirror decodes bodies with ts-proto's `fromJSON`, which
 * coerces rather than checks: `Boolean("false")` is true, `String({x: 1})` is "[object Object]",
 * `Number([7])` is 7, and unknown keys are dropped. So a body is first checked here, value by value, and
 * anything a proto3 JSON parser would refuse is INVALID_ARGUMENT naming its path (`queue.onlineOnly`,
 * `agent.teams[1]`) — what gRPC callers get from the binary decoder and the service's own checks.
 */
import { readFileSync } from 'node:fs';
import {
  createFileRegistry,
  type DescField,
  type DescMessage,
  fromBinary,
  ScalarType,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { SwitchboardError } from '../../errors/catalogue.js';
import { descriptorPath } from '../descriptors.js';
import { enumChoices } from './common.js';

/** Input message of each unary method, by its service-layer name (`upsertAgent`). */
function inputTypes(): Map<string, DescMessage> {
  const path = descriptorPath('switchboard.binpb');
  if (path === null) throw new Error('src/gen/switchboard.binpb is missing: run `npm run proto`');
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(path)));
  const out = new Map<string, DescMessage>();
  for (const file of registry.files) {
    for (const service of file.services) {
      for (const m of service.methods) out.set(m.localName, m.input);
    }
  }
  return out;
}

let inputs: Map<string, DescMessage> | null = null;

/** Throws INVALID_ARGUMENT unless `value` is a proto3 JSON value of method `rpc`'s request message. */
export function checkJsonRequest(rpc: string, value: unknown): void {
  inputs ??= inputTypes();
  const desc = inputs.get(rpc);
  if (!desc) throw new Error(`no request type known for ${rpc}`);
  checkMessage(desc, value, '');
}

/** Worded as the service's own checks (`common.ts`): `<path>: <what is wrong>`. */
function invalid(path: string, message: string): SwitchboardError {
  return new SwitchboardError('SB_ERR_INVALID_ARGUMENT', `${path || 'body'}: ${message}`, path || 'body');
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function checkMessage(desc: DescMessage, value: unknown, path: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(path, `must be an object (${desc.name}), not ${describe(value)}`);
  }
  const oneofs = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) throw invalid(join(path, key), `is not a field of ${desc.name}`);
    if (v === null) continue; // proto3 JSON: null is the field's default
    const at = join(path, field.jsonName);
    if (field.oneof) {
      const other = oneofs.get(field.oneof.name);
      if (other !== undefined) throw invalid(at, `cannot be set together with ${join(path, other)} (one of)`);
      oneofs.set(field.oneof.name, field.jsonName);
    }
    checkField(field, v, at);
  }
}

function checkField(field: DescField, v: unknown, path: string): void {
  switch (field.fieldKind) {
    case 'scalar':
      checkScalar(field.scalar, v, path);
      return;
    case 'enum':
      checkEnum(field.enum.values, v, path);
      return;
    case 'message':
      checkMessage(field.message, v, path);
      return;
    case 'list': {
      if (!Array.isArray(v)) throw invalid(path, `must be an array, not ${describe(v)}`);
      v.forEach((item, i) => {
        const at = `${path}[${i}]`;
        if (item === null) throw invalid(at, 'must not be null');
        if (field.listKind === 'scalar') checkScalar(field.scalar, item, at);
        else if (field.listKind === 'enum') checkEnum(field.enum.values, item, at);
        else checkMessage(field.message, item, at);
      });
      return;
    }
    case 'map': {
      if (typeof v !== 'object' || Array.isArray(v))
        throw invalid(path, `must be an object, not ${describe(v)}`);
      for (const [k, item] of Object.entries(v as object)) {
        const at = `${path}.${k}`;
        if (item === null) throw invalid(at, 'must not be null');
        if (field.mapKind === 'scalar') checkScalar(field.scalar, item, at);
        else if (field.mapKind === 'enum') checkEnum(field.enum.values, item, at);
        else checkMessage(field.message, item, at);
      }
      return;
    }
  }
}

function checkEnum(values: readonly { name: string; number: number }[], v: unknown, path: string): void {
  if (typeof v === 'string' && values.some((e) => e.name === v)) return;
  if (typeof v === 'number' && Number.isInteger(v)) return; // the service names unknown numbers itself
  throw invalid(path, `${enumChoices(values.map((e) => [e.name, e.number]))}, not ${describe(v)}`);
}

const INTEGER_TEXT = /^-?\d+$/;

function checkScalar(type: ScalarType, v: unknown, path: string): void {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      if (typeof v === 'string') return;
      throw invalid(path, `must be a string, not ${describe(v)}`);
    case ScalarType.BOOL:
      if (typeof v === 'boolean') return;
      throw invalid(path, `must be true or false, not ${describe(v)}`);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof v === 'number' && Number.isFinite(v)) return;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return;
      throw invalid(path, `must be a number, not ${describe(v)}`);
    default:
      // Integers: a JSON number without a fraction, or its decimal text (proto3 JSON's int64 form).
      if (typeof v === 'number' && Number.isInteger(v)) return;
      if (typeof v === 'string' && INTEGER_TEXT.test(v)) return;
      throw invalid(path, `must be an integer, not ${describe(v)}`);
  }
}
