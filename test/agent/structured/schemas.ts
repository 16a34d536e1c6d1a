/**
 * The schema corpus the structured-output tests sample against: written for the tests, covering
 * nested objects, arrays with bounds, enums, bounded integers and numbers, string patterns and
 * formats, optional fields, anyOf, and $ref/$defs. Strings and numbers are bounded so that even a
 * 260K-parameter model closes every value within the token budget.
 */
type S = Record<string, unknown>;
const str = (max = 12): S => ({ type: 'string', maxLength: max });
const int = (min: number, max: number): S => ({ type: 'integer', minimum: min, maximum: max });
const obj = (properties: Record<string, S>, required = Object.keys(properties)): S => ({ type: 'object', properties, required, additionalProperties: false });

const hand: S[] = [
  obj({ name: str(), age: int(0, 120) }),
  obj({ title: str(20), done: { type: 'boolean' } }),
  obj({ color: { enum: ['red', 'green', 'blue'] } }),
  obj({ tags: { type: 'array', items: str(8), minItems: 1, maxItems: 3 } }),
  obj({ point: obj({ x: int(-10, 10), y: int(-10, 10) }) }),
  obj({ score: { type: 'number' } }),
  obj({ id: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' } }),
  obj({ day: { type: 'string', pattern: '^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$' } }),
  obj({ uuid: { type: 'string', format: 'uuid' } }),
  obj({ id: { type: 'string', format: 'uuid' }, where: { enum: ['home', 'away'] } }),
  obj({ ip: { type: 'string', pattern: '^10\\.[0-9]{1,2}\\.[0-9]{1,2}\\.[1-9]$' } }),
  obj({ name: str(), nickname: str() }, ['name']),
  obj({ value: { anyOf: [int(0, 9), { type: 'boolean' }, { type: 'null' }] } }),
  obj({ pet: { anyOf: [obj({ kind: { const: 'cat' }, lives: int(1, 9) }), obj({ kind: { const: 'dog' }, good: { type: 'boolean' } })] } }),
  { $defs: { person: obj({ name: str(), age: int(0, 99) }) }, ...obj({ owner: { $ref: '#/$defs/person' }, friends: { type: 'array', items: { $ref: '#/$defs/person' }, maxItems: 2 } }) },
  obj({ matrix: { type: 'array', items: { type: 'array', items: int(0, 9), minItems: 2, maxItems: 2 }, minItems: 2, maxItems: 2 } }),
  obj({ pair: { type: 'array', prefixItems: [str(6), int(0, 50)], items: false, minItems: 2 } }),
  obj({ status: { enum: ['open', 'closed', 'pending'] }, priority: int(1, 5), note: str(16) }),
  obj({ a: obj({ b: obj({ c: obj({ d: str(6) }) }) }) }),
  obj({ list: { type: 'array', items: obj({ k: str(5), v: int(0, 100) }), minItems: 2, maxItems: 4 } }),
  obj({ flag: { type: 'boolean' }, count: int(0, 1000), ratio: { type: 'number' } }),
  obj({ kind: { const: 'event' }, at: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]$' } }),
  obj({ letters: { type: 'string', pattern: '^[a-z]{3,6}$' } }),
  obj({ maybe: { type: ['integer', 'null'] } }),
  obj({ level: { anyOf: [int(0, 5), { type: 'null' }] }, unit: { enum: ['m', 'km'] } }),
  { type: 'array', items: int(0, 9), minItems: 3, maxItems: 5 },
  { enum: ['yes', 'no', 'maybe'] },
  { type: 'integer', minimum: 10, maximum: 20 },
  obj({ version: { type: 'string', pattern: '^[0-9]\\.[0-9]{1,2}$' }, channel: { enum: ['stable', 'beta'] } }),
  obj({ code: { type: 'string', minLength: 2, maxLength: 4 } }),
];

/** Generated variations: every combination of a few field kinds, so the corpus passes 50. */
const kinds: [string, S][] = [['word', str(10)], ['small', int(0, 9)], ['level', { enum: ['low', 'mid', 'high'] }], ['ok', { type: 'boolean' }], ['items', { type: 'array', items: int(0, 5), maxItems: 3 }]];
const generated: S[] = [];
for (let i = 0; i < kinds.length; i++) {
  for (let j = 0; j < kinds.length; j++) {
    if (i === j) continue;
    const [a, sa] = kinds[i];
    const [b, sb] = kinds[j];
    // Alternate required and optional second fields, and nest every third one.
    const inner = obj({ [a]: sa, [b]: sb }, (i + j) % 2 === 0 ? [a, b] : [a]);
    generated.push((i * kinds.length + j) % 3 === 0 ? obj({ inner }) : inner);
  }
}

export const SCHEMAS: S[] = [...hand, ...generated];
