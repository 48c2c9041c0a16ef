'use strict';
// Ids in the application exactly as trovella's SQL gives them: a uuid's
// ULID text (uuid_to_ulid), its time (ulid_time), and rich ids
// (rich_id, rich_id_to_uuid), with the same checks and SQLSTATEs.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const VALUE = new Map();
for (let i = 0; i < ALPHABET.length; i++) {
  VALUE.set(ALPHABET[i], i);
  VALUE.set(ALPHABET[i].toLowerCase(), i);
}
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const PREFIX = /^[a-z][a-z0-9_]{0,62}$/;

const { TrovellaError } = require('./error.cjs');

// what a bad value was, without the value: a token passed by mistake stays
// out of errors and logs
function describe(value) {
  return typeof value === 'string' ? `string of ${value.length} characters` : typeof value;
}

function idError(message, code) {
  return new TrovellaError(message, code);
}

function uuidBits(uuid) {
  if (typeof uuid !== 'string' || !UUID.test(uuid)) throw idError(`trovella: not a uuid (8-4-4-4-12 hexadecimal digits): this ${describe(uuid)}`, '22P02');
  return BigInt(`0x${uuid.replace(/-/g, '')}`);
}

// uuid_to_ulid(): 26 upper-case Crockford base32 characters
function uuidToUlid(uuid) {
  let bits = uuidBits(uuid);
  let text = '';
  for (let i = 0; i < 26; i++) {
    text = ALPHABET[Number(bits & 31n)] + text;
    bits >>= 5n;
  }
  return text;
}

// ulid_to_uuid(): any case; I, L, O, U and a first character above 7 refused
function ulidToUuid(ulid) {
  if (typeof ulid !== 'string' || ulid.length !== 26) throw idError(`trovella: not a ULID (26 characters): this ${describe(ulid)}`, '22P02');
  let bits = 0n;
  for (const c of ulid) {
    const v = VALUE.get(c);
    if (v === undefined) throw idError('trovella: not a ULID (Crockford base32, without I, L, O and U)', '22P02');
    bits = (bits << 5n) | BigInt(v);
  }
  if (VALUE.get(ulid[0]) > 7) throw idError('trovella: not a ULID (its first character is at most 7)', '22P02');
  const hex = bits.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ulid_time(): the millisecond the id was made, as a Date
function ulidTime(uuid) {
  return new Date(Number(uuidBits(uuid) >> 80n));
}

function checkPrefix(prefix, fn) {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw idError(`trovella.${fn}: invalid rich id prefix, this ${describe(prefix)} (a lowercase letter followed by up to 62 lowercase letters, digits or underscores)`, '22P02');
  }
}

// rich_id(): prefix, a hyphen and the ULID text
function richId(prefix, uuid) {
  checkPrefix(prefix, 'rich_id');
  return `${prefix}-${uuidToUlid(uuid)}`;
}

// rich_id_to_uuid(): the uuid of a rich id that carries expectedPrefix
function richIdToUuid(rich, expectedPrefix) {
  checkPrefix(expectedPrefix, 'rich_id_to_uuid');
  if (typeof rich !== 'string' || rich.length !== expectedPrefix.length + 27 ||
      !rich.startsWith(`${expectedPrefix}-`)) {
    throw idError(`trovella.rich_id_to_uuid: not a rich id with prefix ${JSON.stringify(expectedPrefix)}: this ${describe(rich)}`, '22P02');
  }
  return ulidToUuid(rich.slice(expectedPrefix.length + 1));
}

module.exports = { uuidToUlid, ulidToUuid, ulidTime, richId, richIdToUuid };
