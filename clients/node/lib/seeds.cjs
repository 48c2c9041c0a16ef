'use strict';
// A seed file runs inside the transaction that records it: a COMMIT of its
// own would record it as applied when only half of it ran.  Its
// statements are read here (comments, strings, quoted names and dollar
// quoting skipped) and transaction control is refused.

const CONTROL = /^(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i;

// the statements of text, each with comments and literals blanked
function statements(text) {
  const out = [];
  let current = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      current += ' ';
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') { depth += 1; i += 2; } else if (text[i] === '*' && text[i + 1] === '/') { depth -= 1; i += 2; } else i += 1;
      }
      current += ' ';
    } else if (c === "'" || c === '"') {
      // E'...' strings take backslash escapes
      const escapes = c === "'" && /[eE]$/.test(current) && !/[A-Za-z0-9_$][eE]$/.test(current);
      i += 1;
      while (i < text.length) {
        if (escapes && text[i] === '\\') { i += 2; continue; }
        if (text[i] === c) {
          if (text[i + 1] === c) { i += 2; continue; }
          break;
        }
        i += 1;
      }
      i += 1;
      current += ' x ';
    } else if (c === '$' && !/[A-Za-z0-9_$]$/.test(current)) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? text.length : end + tag[0].length;
        current += ' x ';
      } else {
        current += c;
        i += 1;
      }
    } else if (c === ';') {
      out.push(current.trim());
      current = '';
      i += 1;
    } else {
      current += c;
      i += 1;
    }
  }
  if (current.trim()) out.push(current.trim());
  return out.filter((s) => s.length);
}

// the first statement that controls the transaction, or null
function transactionControl(text) {
  let atomic = false;
  for (const statement of statements(text)) {
    // a BEGIN ATOMIC ... END body (SQL-standard function) holds statements
    if (atomic) {
      if (/^END$/i.test(statement)) atomic = false;
      continue;
    }
    if (/^CREATE\b/i.test(statement) && /\bBEGIN\s+ATOMIC\b/i.test(statement)) {
      atomic = !/\bEND$/i.test(statement);
      continue;
    }
    const m = CONTROL.exec(statement);
    if (m) return m[1].replace(/\s+/g, ' ').toUpperCase();
  }
  return null;
}

module.exports = { transactionControl };
